package overlay_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
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
	stopAll(t, net)
	for i := range net.Nodes {
		net.RestartWith(t, i, nil)
	}
	cs := clients(t, net.Nodes)
	waitAllLive(t, cs, 30*time.Second)
	if err := readAll(cs[2], blobs); err != nil {
		t.Fatal(err)
	}
}

// TestQuickRestartKeepsMembership restarts a node at once, while its peers
// still hold its last announcements. GossipSub hands those back to it, and
// used to count each as an invalid message from the honest peer forwarding
// it, until the restarted node and its peers ignored each other and every
// member looked failed to it. The restarted node and the others must keep
// hearing each other well past the failure-detection window.
func TestQuickRestartKeepsMembership(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 1})
	if err := net.Stop(3); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	net.Restart(t, 3)
	ctx := context.Background()
	cs := clients(t, net.Nodes)
	// In process a member is failed about 2 s after its last heartbeat;
	// heartbeats seen 5 s after the restart show that messages still flow.
	heardAfter := restarted.Add(5 * time.Second)
	tu.Eventually(t, 30*time.Second, func() bool {
		for _, c := range []*api.Client{cs[3], cs[0]} {
			ms, err := c.Members(ctx)
			if err != nil || liveCount(ms) != 4 {
				return false
			}
			for _, m := range ms {
				if !m.Self && m.LastSeen.Before(heardAfter) {
					return false
				}
			}
		}
		return true
	}, "the restarted node and node 0 keep hearing every member")
}

// TestRestartedNodeKeepsDownMembersPlace: a member fails, and while the
// others hold its place for the repair grace another node restarts. The
// restarted node has not heard from the failed member in this run, but it
// remembers it from the last, so it too waits out the grace instead of
// repairing around it at once (and moving its blocks back when it returns).
func TestRestartedNodeKeepsDownMembersPlace(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 1, RepairGrace: 30 * time.Second})
	blobs := putBlobs(t, clients(t, net.Nodes), 12, 13)
	base := repairBaseline(t, net.Nodes, clients(t, net.Nodes))
	failed := net.Nodes[3].ID().String()
	if err := net.Stop(3); err != nil { // fails: no leave
		t.Fatal(err)
	}
	// Restart node 2 only once node 3's last announcements have left the
	// peers' GossipSub message caches (a few router heartbeats): a node
	// restarted before that hears of node 3 from them.
	ctx := context.Background()
	c0 := clients(t, net.Nodes[:1])[0]
	tu.Eventually(t, 30*time.Second, func() bool {
		ms, err := c0.Members(ctx)
		return err == nil && slices.ContainsFunc(ms, func(m api.Member) bool {
			return m.PeerID == failed && m.State == "failed" && time.Since(m.LastSeen) > 5*time.Second
		})
	}, "node 3 failed, its last heartbeat 5s old")
	if err := net.Leave(t, 2); err != nil {
		t.Fatal(err)
	}
	net.Restart(t, 2)
	live := net.Nodes[:3]
	cs := clients(t, live)
	waitRepairedOnce(t, live, cs)
	assertNothingMoved(t, live, base)
	if err := readAll(cs[2], blobs); err != nil {
		t.Fatal(err)
	}
}
