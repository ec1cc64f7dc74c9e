package gossip

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/xnode/xnode/internal/testutil"
)

// lockedBuffer is a log sink that the handler and the test share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(l.b.String(), "\n")
}

// TestMembershipEventsLogged: an operator reads joins and leaves of other
// members in the log at INFO, keyed "member"; a node's own join is not news.
func TestMembershipEventsLogged(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "test-eventlog"
	var buf lockedBuffer
	var first peer.ID
	c := &cluster{cfg: cfg, mn: mocknet.New()}
	c.log = func(id peer.ID) *slog.Logger {
		if first == "" {
			first = id
			return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		return testutil.Logger(id.ShortString())
	}
	t.Cleanup(func() { c.close(t) })
	for range 2 {
		c.nodes = append(c.nodes, c.startNode(t, c.newHost(t)))
	}
	if err := c.mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.mn.ConnectPeers(c.nodes[0].h.ID(), c.nodes[1].h.ID()); err != nil {
		t.Fatal(err)
	}
	other := c.nodes[1].h.ID()
	logged := func(msg string, id peer.ID) bool {
		for _, l := range buf.lines() {
			if strings.Contains(l, "level=INFO") && strings.Contains(l, `msg="`+msg+`"`) && strings.Contains(l, "member="+id.String()) {
				return true
			}
		}
		return false
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return logged("member joined", other) }, "join of the other member logged")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.nodes[1].svc.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return logged("member left", other) }, "leave of the other member logged")
	if logged("member joined", first) {
		t.Fatal("the node's own join logged at INFO")
	}
}
