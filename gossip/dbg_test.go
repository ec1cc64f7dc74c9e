package gossip

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/xnode/xnode/internal/testutil"
)

func TestDbg(t *testing.T) {
	cfg := LocalTestConfig()
	ms, _ := strconv.Atoi(os.Getenv("HB"))
	cfg.HeartbeatInterval = time.Duration(ms) * time.Millisecond
	cfg.Network = "dbg"
	c := newCluster(t, 20, cfg)
	testutil.WaitFor(10*time.Second, func() bool { return false })
	_ = c
}
