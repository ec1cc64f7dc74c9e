package overlay_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
)

// TestRestartWithoutBootstrapRejoins stops every node of a network and
// starts each again with no bootstrap peer at all, as after the bootstrap
// machines were lost: the members each node remembers from its last run
// (data/peers.json) bring the network back together.
func TestRestartWithoutBootstrapRejoins(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	net := localnet.NewInProcess(t, 3, localnet.InProcessOptions{Params: &params, Validators: 1})
	blobs := putBlobs(t, clients(t, net.Nodes), 4, 11)
	ctx := context.Background()

	var wg sync.WaitGroup
	for _, n := range net.Nodes {
		wg.Go(func() { _ = n.Leave(ctx) })
	}
	wg.Wait()
	for i := range net.Nodes {
		if err := net.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	for i := range net.Nodes {
		net.RestartWith(t, i, nil)
	}
	cs := clients(t, net.Nodes)
	tu.Eventually(t, 30*time.Second, func() bool {
		for _, c := range cs {
			if ms, err := c.Members(ctx); err != nil || liveCount(ms) != len(cs) {
				return false
			}
		}
		return true
	}, "every node sees every other again")
	if err := readAll(cs[2], blobs); err != nil {
		t.Fatal(err)
	}
}
