package consensus_test

import (
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/internal/testutil"
	"go.uber.org/goleak"
)

// cometbftInherentLeaks are goroutines CometBFT v0.38 leaves behind on every
// node stop, which no caller can end: the consensus WAL's autofile is closed
// with closeFile instead of Close, so its SIGHUP handler and close ticker
// goroutines stay (each holding a closed file and a 1 s ticker).
var cometbftInherentLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/cometbft/cometbft/libs/autofile.OpenAutoFile.func1"),
	goleak.IgnoreTopFunction("github.com/cometbft/cometbft/libs/autofile.(*AutoFile).closeFileRoutine"),
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, cometbftInherentLeaks...)
	home := initHome(t)
	cfg := devConfig(t, home)
	cfg.RPCListen = loopback(t)
	n, err := consensus.New(cfg, kvstore.NewInMemoryApplication(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	commit(t, n, "leak=check")
	if _, err := n.NewBlocks(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// goleveldb's mpoolDrain outlives DB.Close by up to 1 s (it waits that
	// long for a pooled buffer), so give it a little while before reporting.
	if !testutil.WaitFor(5*time.Second, func() bool { return goleak.Find(opts...) == nil }) {
		goleak.VerifyNone(t, opts...)
	}
}
