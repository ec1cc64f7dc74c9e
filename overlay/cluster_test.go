package overlay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

type stored struct {
	cid  string
	data []byte
}

func clients(t *testing.T, nodes []*overlay.Node) []*api.Client {
	t.Helper()
	out := make([]*api.Client, len(nodes))
	for i, n := range nodes {
		c, err := api.NewClient(n.APIURL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = c
	}
	return out
}

// putBlobs writes count blobs with sizes spread log-uniformly between 1 KiB
// and 8 MiB, through the given clients in turn, a few at a time.
func putBlobs(t *testing.T, cs []*api.Client, count int, seed uint64) []stored {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]stored, count)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	errs := make(chan error, count)
	for i := range out {
		size := 1024 << rng.IntN(14) // 1 KiB .. 8 MiB
		size += rng.IntN(size)
		size = min(size, 8<<20)
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		out[i].data = data
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, err := cs[i%len(cs)].Put(context.Background(), bytes.NewReader(data))
			if err != nil {
				errs <- fmt.Errorf("blob %d (%d bytes): %w", i, size, err)
				return
			}
			out[i].cid = res.CID
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

// readAll checks every blob reads back byte-identical through c.
func readAll(c *api.Client, blobs []stored) error {
	for _, b := range blobs {
		var got bytes.Buffer
		if _, err := c.Get(context.Background(), b.cid, &got); err != nil {
			return fmt.Errorf("get %s via %s: %w", b.cid, c.BaseURL(), err)
		}
		if !bytes.Equal(got.Bytes(), b.data) {
			return fmt.Errorf("get %s via %s: different bytes", b.cid, c.BaseURL())
		}
	}
	return nil
}

// placementErrors checks, through locate on node via, that every block of
// every blob is held by each of its R live owners; with exact it also checks
// that no other live node holds it.
func placementErrors(ctx context.Context, via *api.Client, nodes []*overlay.Node, blobs []stored, r int, exact bool) []string {
	var problems []string
	for _, b := range blobs {
		loc, err := via.Locate(ctx, b.cid)
		if err != nil {
			return []string{fmt.Sprintf("locate %s: %v", b.cid, err)}
		}
		all := append([]api.BlockLocation{{CID: loc.CID, Owners: loc.Owners}}, loc.Blocks...)
		for _, bl := range all {
			if len(bl.Owners) != r {
				problems = append(problems, fmt.Sprintf("%s has %d owners, want %d", bl.CID, len(bl.Owners), r))
			}
			owner := map[string]bool{}
			for _, o := range bl.Owners {
				owner[o.Peer] = true
				if !o.Has {
					problems = append(problems, fmt.Sprintf("%s: owner %s (rank %d) lacks it", bl.CID, o.Peer, o.Rank))
				}
			}
			if !exact {
				continue
			}
			c, _ := block.Parse(bl.CID)
			for _, n := range nodes {
				has, _ := n.Store().Has(ctx, c)
				if has && !owner[n.ID().String()] {
					problems = append(problems, fmt.Sprintf("%s: non-owner %s holds a copy", bl.CID, n.ID()))
				}
			}
		}
	}
	return problems
}

func TestPlacementFiveNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams() // R=3
	nodes := localnet.StartInProcess(t, 5, localnet.InProcessOptions{Params: &params, Validators: 1})
	cs := clients(t, nodes)
	blobs := putBlobs(t, cs, 50, 1)
	ctx := context.Background()
	if p := placementErrors(ctx, cs[0], nodes, blobs, 3, true); len(p) > 0 {
		t.Fatalf("%d placement problems, first: %v", len(p), p[:min(5, len(p))])
	}
	for _, c := range cs {
		if err := readAll(c, blobs); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFailureRepair(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	t.Run("failed", func(t *testing.T) { testLossRepair(t, false) })
	// A member that announced its leave and does not come back is repaired
	// around after the same grace.
	t.Run("left", func(t *testing.T) { testLossRepair(t, true) })
}

func testLossRepair(t *testing.T, leave bool) {
	params := abci.DefaultParams()
	grace := 2 * time.Second
	nodes := localnet.StartInProcess(t, 5, localnet.InProcessOptions{Params: &params, Validators: 1, RepairGrace: grace, AntiEntropy: time.Second})
	cs := clients(t, nodes)
	blobs := putBlobs(t, cs, 20, 2)
	ctx := context.Background()

	// Close node 4, abruptly (the others detect the failure) or after
	// announcing its leave.
	victim := nodes[4]
	victimID := victim.ID().String()
	gone := "failed"
	if leave {
		gone = "left"
		if err := victim.Leave(ctx); err != nil {
			t.Fatal(err)
		}
	}
	victim.Close()
	survivors, scs := nodes[:4], cs[:4]
	tu.Eventually(t, 30*time.Second, func() bool {
		ms, err := scs[0].Members(ctx)
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.PeerID == victimID {
				return m.State == gone
			}
		}
		return false
	}, "victim marked %s", gone)

	// From detection on, every blob stays readable, while repair runs.
	detected := time.Now()
	var reads int
	for i := 0; ; i++ {
		if err := readAll(scs[i%len(scs)], blobs); err != nil {
			t.Fatalf("blob unreadable %s after the failure was detected: %v", time.Since(detected), err)
		}
		reads++
		if problems := placementErrors(ctx, scs[0], survivors, blobs, 3, false); len(problems) == 0 {
			break
		} else if time.Since(detected) > 60*time.Second {
			t.Fatalf("not repaired after %s: %d problems, first %v", time.Since(detected), len(problems), problems[0])
		}
	}
	took := time.Since(detected)
	t.Logf("R live replicas restored %s after the loss was detected (grace %s), %d full read passes meanwhile", took.Round(time.Millisecond), grace, reads)
	if leave && took < grace {
		t.Fatalf("repaired around a member that left %s after its leave, before the %s grace", took, grace)
	}
}

func TestJoinRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	// A grace far longer than the test: a member a starved machine thinks
	// failed for a moment keeps its place, so only the join moves blocks.
	grace := 30 * time.Second
	nodes := localnet.StartInProcess(t, 5, localnet.InProcessOptions{Params: &params, Validators: 1, AntiEntropy: time.Second, RepairGrace: grace})
	cs := clients(t, nodes)
	blobs := putBlobs(t, cs, 30, 3)
	ctx := context.Background()
	// Under load a put hedges onto the next member when an owner is slow,
	// and repair then moves that copy: settle those first, so that only
	// the join's moves are counted, against the replicas the owners hold.
	tu.Eventually(t, 60*time.Second, func() bool {
		return len(placementErrors(ctx, cs[0], nodes, blobs, 3, true)) == 0
	}, "every block on exactly its owners before the join")
	var total int64
	for _, n := range nodes {
		total += n.Store().Usage().Bytes
	}
	moved := func() float64 {
		var sum float64
		for _, n := range nodes {
			sum += metricValue(t, n, "xnode_repair_bytes_moved_total")
		}
		return sum
	}
	before := moved()

	sixth := localnet.AddNode(t, nodes, localnet.InProcessOptions{AntiEntropy: time.Second, RepairGrace: grace})
	all := append(append([]*overlay.Node{}, nodes...), sixth)
	tu.Eventually(t, 60*time.Second, func() bool {
		return len(placementErrors(ctx, cs[0], all, blobs, 3, true)) == 0
	}, "blocks owned by the new node reach it and old owners drop their copies")

	// The ideal share of a new sixth member of equal weight is R/(N+1) of the
	// replicas: the bytes it should end up holding.
	ideal := float64(total) / 6
	got := moved() - before
	ratio := got / ideal
	t.Logf("join: %d bytes moved, ideal %.0f (1/6 of %d replica bytes): ratio %.3f; the new node holds %d bytes",
		int64(got), ideal, total, ratio, sixth.Store().Usage().Bytes)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("join moved %.2f× the ideal share", ratio)
	}
	if err := readAll(clients(t, []*overlay.Node{sixth})[0], blobs); err != nil {
		t.Fatal(err)
	}
}

// TestFullRestartMovesNothing stops every node of a network the way
// `xnode localnet down` does (each announces its leave and exits) and starts
// them again. Their owner sets are the same as before, so repair must move
// and drop nothing: it waits for membership to settle instead of acting on
// the partial views the nodes pass through while they stop and start.
func TestFullRestartMovesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams() // R=3
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 1, RepairSettle: 3 * time.Second})
	blobs := putBlobs(t, clients(t, net.Nodes), 12, 5)
	ctx := context.Background()

	stopAll(t, net)
	for i := range net.Nodes {
		net.Restart(t, i)
	}
	nodes := net.Nodes
	cs := clients(t, nodes)
	waitRepairedOnce(t, nodes, cs)
	assertNothingMoved(t, nodes, nil) // every node restarted: its counters start at zero
	if p := placementErrors(ctx, cs[0], nodes, blobs, 3, true); len(p) > 0 {
		t.Fatalf("%d placement problems, first: %v", len(p), p[:min(5, len(p))])
	}
	if err := readAll(cs[1], blobs); err != nil {
		t.Fatal(err)
	}
}

// TestRestartWithinGraceMovesNothing restarts one node the way an operator
// does for an upgrade: it announces its leave, stops and starts again. The
// others keep its place for the repair grace, as for a failure, so nothing
// moves out and back.
func TestRestartWithinGraceMovesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams() // R=3
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 1, RepairGrace: 30 * time.Second})
	cs := clients(t, net.Nodes)
	blobs := putBlobs(t, cs, 12, 6)
	base := repairBaseline(t, net.Nodes, cs)
	ctx := context.Background()
	leaver := net.Nodes[3].ID().String()
	if err := net.Leave(t, 3); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, func() bool {
		ms, err := cs[0].Members(ctx)
		return err == nil && slices.ContainsFunc(ms, func(m api.Member) bool { return m.PeerID == leaver && m.State == "left" })
	}, "the others see the node left")
	net.Restart(t, 3)
	nodes := net.Nodes
	cs = clients(t, nodes)
	waitRepairedOnce(t, nodes, cs)
	assertNothingMoved(t, nodes, base)
	if err := readAll(cs[3], blobs); err != nil {
		t.Fatal(err)
	}
}

// waitAllLive waits until every client's node sees all of them live.
func waitAllLive(t *testing.T, cs []*api.Client, timeout time.Duration) {
	t.Helper()
	tu.Eventually(t, timeout, func() bool {
		for _, c := range cs {
			if ms, err := c.Members(context.Background()); err != nil || liveCount(ms) != len(cs) {
				return false
			}
		}
		return true
	}, "every node sees every other")
}

// stopAll stops every node the way `xnode localnet down` does: each
// announces its leave and closes, all at once.
func stopAll(t *testing.T, net *localnet.InProcess) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range net.Nodes {
		wg.Go(func() {
			if err := net.Leave(t, i); err != nil {
				t.Errorf("leave: %v", err)
			}
		})
	}
	wg.Wait()
}

// waitRepairedOnce waits until every node sees all of nodes live, then for
// two more repair passes on each: the pass membership calls for once it has
// settled, and a periodic one after it.
func waitRepairedOnce(t *testing.T, nodes []*overlay.Node, cs []*api.Client) {
	t.Helper()
	waitAllLive(t, cs, 60*time.Second)
	want := make([]float64, len(nodes))
	for i, n := range nodes {
		want[i] = metricValue(t, n, "xnode_repair_passes_total") + 2
	}
	tu.Eventually(t, 60*time.Second, func() bool {
		for i, n := range nodes {
			if metricValue(t, n, "xnode_repair_passes_total") < want[i] {
				return false
			}
		}
		return true
	}, "two repair passes on every node after membership is complete")
}

// repairBaseline waits for repair to settle on every node and returns what
// each has moved and dropped so far. Under load a put hedges onto the next
// member when an owner is slow, and repair then moves that copy: work of the
// put, not of what a test does next, which assertNothingMoved leaves out.
func repairBaseline(t *testing.T, nodes []*overlay.Node, cs []*api.Client) map[*overlay.Node][2]float64 {
	t.Helper()
	waitRepairedOnce(t, nodes, cs)
	base := make(map[*overlay.Node][2]float64, len(nodes))
	for _, n := range nodes {
		base[n] = [2]float64{metricValue(t, n, "xnode_repair_blocks_moved_total"), metricValue(t, n, "xnode_repair_blocks_dropped_total")}
	}
	return base
}

// assertNothingMoved fails the test if any node's repair moved or dropped a
// block since base (from repairBaseline; a node not in it, such as one
// restarted since, counts from zero).
func assertNothingMoved(t *testing.T, nodes []*overlay.Node, base map[*overlay.Node][2]float64) {
	t.Helper()
	for i, n := range nodes {
		b := base[n]
		moved := metricValue(t, n, "xnode_repair_blocks_moved_total") - b[0]
		dropped := metricValue(t, n, "xnode_repair_blocks_dropped_total") - b[1]
		if moved != 0 || dropped != 0 {
			t.Errorf("node %d moved %v blocks and dropped %v, though no owner set changed for good", i, moved, dropped)
		}
	}
}

func liveCount(ms []api.Member) int {
	n := 0
	for _, m := range ms {
		if m.State == "alive" || m.State == "suspect" {
			n++
		}
	}
	return n
}

// committed returns a submitting call's result once its transaction has
// committed: a node answers "pending" when a block takes longer than its
// commit wait (a loaded machine, a chain that lost validators), and the
// transaction commits later. A rejection or a failure code fails the test.
func committed(t *testing.T, c *api.Client, res api.TxResult, err error) api.TxResult {
	t.Helper()
	var pending *api.TxPendingError
	if !errors.As(err, &pending) {
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	tu.Eventually(t, 60*time.Second, func() bool {
		res, err = c.Tx(context.Background(), pending.Tx)
		return err == nil && res.Status == api.TxCommitted
	}, "transaction %s committed", pending.Tx)
	if res.Code != 0 {
		t.Fatalf("transaction %s committed with code %d: %s", pending.Tx, res.Code, res.Log)
	}
	return res
}
