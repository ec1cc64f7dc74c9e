package overlay_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/gossip"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
	"github.com/xnode/xnode/overlay/transfer"
)

// sybil is a foreign libp2p host that joins a network's members topic and
// announces itself with a huge capacity, as an outsider who knows the chain
// id can. It answers no block request, and counts the block-protocol
// streams it is offered.
type sybil struct {
	id      peer.ID
	streams atomic.Int64
}

func startSybil(t *testing.T, chainID string, through *overlay.Node) *sybil {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := &sybil{id: h.ID()}
	h.SetStreamHandler(transfer.ProtocolID, func(st network.Stream) {
		s.streams.Add(1)
		st.Reset()
	})
	cfg := gossip.LocalTestConfig()
	cfg.Network = chainID
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := gossip.NewPubSub(ctx, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := gossip.New(cfg, h, ps, func() gossip.Announcement {
		return gossip.Announcement{Capacity: 1 << 50, Version: "sybil"}
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Connect(ctx, peer.AddrInfo{ID: through.ID(), Addrs: through.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	return s
}

// TestSybilIsAnObserver: a foreign peer announcing a petabyte of capacity is
// listed as an observer, never ranked among the owners of a block, offered
// no block by a put or by repair, and not counted as a member. Without
// admission (a genesis that registers no node) the same peer owns blocks
// and is offered them: the test tells the two apart.
func TestSybilIsAnObserver(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	t.Run("admission", func(t *testing.T) { testSybil(t, false) })
	t.Run("open genesis", func(t *testing.T) { testSybil(t, true) })
}

func testSybil(t *testing.T, open bool) {
	params := abci.DefaultParams() // R=3
	net := localnet.NewInProcess(t, 3, localnet.InProcessOptions{Params: &params, OpenAdmission: open, AntiEntropy: time.Second})
	cs := clients(t, net.Nodes)
	before := putBlobs(t, cs, 8, 21)
	moved := func() (sum float64) {
		for _, n := range net.Nodes {
			sum += metricValue(t, n, "xnode_repair_bytes_moved_total")
		}
		return sum
	}
	movedBefore := moved()

	s := startSybil(t, net.ChainID, net.Nodes[0])
	wantState := api.MemberObserver
	if open {
		wantState = "alive"
	}
	ctx := context.Background()
	tu.Eventually(t, 30*time.Second, func() bool {
		for _, c := range cs {
			ms, err := c.AllMembers(ctx)
			if err != nil || !listed(ms, s.id, wantState) {
				return false
			}
		}
		return true
	}, "every node lists the Sybil as %s", wantState)
	passes := make([]float64, len(net.Nodes))
	for i, n := range net.Nodes {
		passes[i] = metricValue(t, n, "xnode_repair_passes_total")
	}

	after := putBlobs(t, cs, 8, 22)
	owned := 0
	for _, b := range append(before, after...) {
		loc, err := cs[1].Locate(ctx, b.cid)
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range append([]api.BlockLocation{{CID: loc.CID, Owners: loc.Owners}}, loc.Blocks...) {
			for _, o := range bl.Owners {
				if o.Peer == s.id.String() {
					owned++
				}
			}
		}
	}
	// Two repair passes on every node after the Sybil was known: any repair
	// it caused has run.
	tu.Eventually(t, 30*time.Second, func() bool {
		for i, n := range net.Nodes {
			if metricValue(t, n, "xnode_repair_passes_total") < passes[i]+2 {
				return false
			}
		}
		return true
	}, "two repair passes on every node")

	if open {
		if owned == 0 || s.streams.Load() == 0 {
			t.Fatalf("without admission the Sybil owned %d blocks and was offered %d streams: the test cannot tell", owned, s.streams.Load())
		}
		t.Logf("without admission the Sybil owned %d blocks and was offered %d block streams", owned, s.streams.Load())
		return
	}
	if owned > 0 {
		t.Fatalf("the Sybil owns %d blocks", owned)
	}
	if n := s.streams.Load(); n > 0 {
		t.Fatalf("the Sybil was offered %d block streams", n)
	}
	if m := moved(); m != movedBefore {
		t.Fatalf("repair moved %v bytes after the Sybil appeared", m-movedBefore)
	}
	var ignored float64
	for i, c := range cs {
		st, err := c.Status(ctx)
		if err != nil || st.Members != 3 || st.Role != overlay.RoleValidator {
			t.Fatalf("node %d: members %d role %q (%v), want 3 and validator", i, st.Members, st.Role, err)
		}
		ms, err := c.Members(ctx)
		if err != nil || listed(ms, s.id, "") {
			t.Fatalf("node %d lists the Sybil without ?all=true (%v)", i, err)
		}
		ignored += metricValue(t, net.Nodes[i], "xnode_members_unregistered_announcements_total")
	}
	if ignored == 0 {
		t.Fatal("no node counted the Sybil's announcements")
	}
	for _, c := range cs {
		if err := readAll(c, append(before, after...)); err != nil {
			t.Fatal(err)
		}
	}
}

// listed reports whether ms holds p (in state, unless state is empty).
func listed(ms []api.Member, p peer.ID, state string) bool {
	for _, m := range ms {
		if m.PeerID == p.String() && (state == "" || m.State == state) {
			return true
		}
	}
	return false
}

// TestUnbondedNodeLeavesPlacement: a registered node that unbonds its whole
// stake leaves placement; once the repair grace has passed its blocks are
// re-replicated on the members left, as for a member that left, and every
// blob still reads back.
func TestUnbondedNodeLeavesPlacement(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams() // R=3
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 1, AntiEntropy: time.Second})
	cs := clients(t, net.Nodes)
	blobs := putBlobs(t, cs, 12, 51)
	ctx := context.Background()
	gone := net.Nodes[3]
	held := gone.Store().Usage().Blocks
	if held == 0 {
		t.Fatal("the node to unbond holds no block: the test proves nothing")
	}
	if st, err := cs[3].Status(ctx); err != nil || st.Role != overlay.RoleMember {
		t.Fatalf("registered node: role %q (%v), want member", st.Role, err)
	}

	net.Unbond(t, 3, abci.GenesisStake)
	tu.Eventually(t, 30*time.Second, func() bool {
		st, err := cs[0].Status(ctx)
		ms, merr := cs[0].AllMembers(ctx)
		return err == nil && merr == nil && st.Members == 3 && listed(ms, gone.ID(), api.MemberObserver) && gone.Observer()
	}, "the unbonded node is an observer")
	rest := net.Nodes[:3]
	tu.Eventually(t, 60*time.Second, func() bool {
		return len(placementErrors(ctx, cs[0], rest, blobs, 3, false)) == 0
	}, "every block is held by its 3 owners among the members left")
	for _, b := range blobs {
		loc, err := cs[1].Locate(ctx, b.cid)
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range append([]api.BlockLocation{{CID: loc.CID, Owners: loc.Owners}}, loc.Blocks...) {
			for _, o := range bl.Owners {
				if o.Peer == gone.ID().String() {
					t.Fatalf("the unbonded node still owns %s", bl.CID)
				}
			}
		}
	}
	for _, c := range cs[:3] {
		if err := readAll(c, blobs); err != nil {
			t.Fatal(err)
		}
	}
}
