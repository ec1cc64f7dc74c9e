//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/xnode/xnode/localnet"
)

// Sizes and counts of the scenarios. The blob sizes are log-uniform, so the
// mean of 1 KiB..8 MiB is about 0.9 MiB: 200 blobs are ~180 MiB, ~540 MiB
// stored at R=3 over 4 nodes.
const (
	r1Blobs      = 200
	r1MinSize    = 1 << 10
	r1MaxSize    = 8 << 20
	r1CLIBlobs   = 3  // written with `xnode put`, the rest over HTTP
	r1KillAt     = 66 // acknowledgements before the kill: a third of the load
	recordEvery  = 10 // a record for every 10th blob
	namespace    = "e2e"
	r4Blobs      = 60
	r4MaxSize    = 4 << 20
	pauseFor     = 20 * time.Second
	replication  = 3 // abci.DefaultParams().ReplicationFactor
	writeWorkers = 4
	readWorkers  = 4
)

// Summary keys, in print order.
const (
	kSeed = "seed"

	k1Up       = "1 write: network up (xnode localnet up -n 4)"
	k1Acked    = "1 write: acknowledged writes (http + cli)"
	k1Bytes    = "1 write: bytes acknowledged"
	k1Failed   = "1 write: failed (unacknowledged) write attempts"
	k1GaveUp   = "1 write: blobs never acknowledged after 3 tries"
	k1Kill     = "1 write: kill -9"
	k1Heights  = "1 write: chain height at kill -> later on survivors"
	k1CLIGet   = "1 write: xnode get of the cli blobs from a survivor"
	k1Read     = "1 write: read-back from every survivor (node dead)"
	k1Records  = "1 write: records verified / submitted"
	k1Rerepl   = "1 write: time to re-replicate around the dead node"
	k1Lost     = "1 write: acknowledged writes lost"
	k1Took     = "1 write: took"
	k2Restart  = "2 recovery: restart (xnode localnet up) to ready"
	k2CatchUp  = "2 recovery: same height and app hash on all 4"
	k2Restored = "2 recovery: R live replicas of every block again"
	k2Read     = "2 recovery: read everything from the restarted node"
	k2Records  = "2 recovery: records verified as seen by the restarted node"
	k2Took     = "2 recovery: took"
	k3Detect   = "3 pause: SIGSTOP 20s, seen by node0 as"
	k3Heights  = "3 pause: chain height before -> after"
	k3Moved    = "3 pause: repair bytes moved (sum over nodes)"
	k3Reader   = "3 pause: light reader during the pause"
	k3Read     = "3 pause: re-read (all from paused node + 50 sampled)"
	k3Lost     = "3 pause: acknowledged writes lost"
	k3Took     = "3 pause: took"
	k5aDown    = "5 shutdown: 4-node net (xnode localnet down)"
	k4Up       = "4 larger: network up (localnet.Up, 7 nodes)"
	k4Acked    = "4 larger: acknowledged writes"
	k4Failed   = "4 larger: failed (unacknowledged) write attempts"
	k4Heights  = "4 larger: chain height at kill -> later"
	k4PassA    = "4 larger: read all x 5 survivors right after kill -9 x2"
	k4Detect   = "4 larger: both kills detected (failed) on all survivors"
	k4PassB    = "4 larger: read all x 5 survivors after detection"
	k4Rerepl   = "4 larger: time to re-replicate around the dead nodes"
	k4PassC    = "4 larger: read all x 5 survivors after grace (must be clean)"
	k4Reader   = "4 larger: light reader during the faults"
	k4Lost     = "4 larger: acknowledged writes lost"
	k4Took     = "4 larger: took"
	k5bDown    = "5 shutdown: 7-node net (xnode localnet down)"

	kTAcked     = "TOTAL acknowledged writes"
	kTLost      = "TOTAL acknowledged writes lost (must be 0)"
	kTWrong     = "TOTAL reads that served wrong bytes (must be 0)"
	kTFailed    = "TOTAL failed (unacknowledged) write attempts"
	kTFaultErrs = "TOTAL read errors during faults (reported)"
	kTCleanErrs = "TOTAL read errors after detection+grace (must be 0)"
	kTRecords   = "TOTAL records submitted before/during the kill and never verified (must be 0)"
	kTLeft      = "TOTAL processes left behind (must be 0)"
	kTTook      = "TOTAL suite time"
)

var summaryKeys = []string{kSeed,
	k1Up, k1Acked, k1Bytes, k1Failed, k1GaveUp, k1Kill, k1Heights, k1CLIGet, k1Read, k1Records, k1Rerepl, k1Lost, k1Took,
	k2Restart, k2CatchUp, k2Restored, k2Read, k2Records, k2Took,
	k3Detect, k3Heights, k3Moved, k3Reader, k3Read, k3Lost, k3Took,
	k5aDown,
	k4Up, k4Acked, k4Failed, k4Heights, k4PassA, k4Detect, k4PassB, k4Rerepl, k4PassC, k4Reader, k4Lost, k4Took,
	k5bDown,
	kTAcked, kTLost, kTWrong, kTFailed, kTFaultErrs, kTCleanErrs, kTRecords, kTLeft, kTTook,
}

// faultRun is the state the scenarios share.
type faultRun struct {
	parent *testing.T
	bin    string
	work   string
	seed   uint64
	sum    *summary

	a        *cluster // the 4-node network of scenarios 1-3
	aBlobs   []*blob
	victim   string // killed in scenario 1
	killedAt time.Time
	records  []*recordSub
	b        *cluster // the 7-node network of scenario 4
}

// recordSub is one record submitted in scenario 1.
type recordSub struct {
	key    string
	b      *blob
	phase  string // "before kill" or "during kill"
	height int64
	err    error
}

func TestFaults(t *testing.T) {
	suiteStart := time.Now()
	seed := uint64(1)
	if s := os.Getenv("XNODE_E2E_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("XNODE_E2E_SEED %q: %v", s, err)
		}
		seed = v
	}
	work := t.TempDir()
	r := &faultRun{parent: t, bin: xnodeBin(t, work), work: work, seed: seed, sum: newSummary(summaryKeys...), victim: "node3"}
	r.sum.set(kSeed, "%d (XNODE_E2E_SEED)", seed)
	for _, k := range []string{kTAcked, kTLost, kTWrong, kTFailed, kTFaultErrs, kTCleanErrs, kTRecords, kTLeft} {
		r.sum.add(k, 0)
	}
	defer func() {
		r.sum.set(kTTook, "%s", time.Since(suiteStart).Round(time.Second))
		if t.Failed() && len(r.sum.fails) == 0 {
			r.sum.fail("a check failed; see the test log above")
		}
		r.sum.write(t, work)
	}()

	okA := t.Run("1-write-under-fire", r.writeUnderFire)
	if r.a != nil && len(r.aBlobs) > 0 {
		t.Run("2-recovery", r.recovery)
		t.Run("3-pause", r.pause)
	} else if !okA {
		t.Log("scenarios 2 and 3 skipped: scenario 1 did not leave a network with data")
	}
	if r.a != nil {
		t.Run("5-shutdown-4-nodes", func(t *testing.T) { r.shutdown(t, r.a, k5aDown) })
	}
	t.Run("4-larger-net", r.largerNet)
	if r.b != nil {
		t.Run("5-shutdown-7-nodes", func(t *testing.T) { r.shutdown(t, r.b, k5bDown) })
	}
}

// failf fails t and records the reason in the summary.
func (r *faultRun) failf(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	r.sum.fail("%s: %s", t.Name(), msg)
	t.Error(msg)
}

// Scenario 1: write under fire.
func (r *faultRun) writeUnderFire(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	defer func() { r.sum.set(k1Took, "%s", time.Since(start).Round(time.Second)) }()

	dir := filepath.Join(r.work, "net4")
	sts, err := cliUp(ctx, r.bin, dir, 4)
	if err != nil {
		// Whatever `up` left running is stopped by the cleanup.
		if _, lerr := localnet.LoadLayout(dir); lerr == nil {
			if c, cerr := newCluster(r.parent, "net4", dir, r.bin); cerr == nil {
				r.a = c
			}
		}
		t.Fatalf("xnode localnet up -n 4: %v", err)
	}
	a, err := newCluster(r.parent, "net4", dir, r.bin)
	if err != nil {
		t.Fatal(err)
	}
	r.a = a
	if len(sts) != 4 {
		t.Fatalf("localnet up --json listed %d nodes, want 4: %+v", len(sts), sts)
	}
	st2, err := a.cliStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range st2 {
		if !s.Alive || s.PID <= 0 || s.PID != sts[i].PID || s.Height < localnet.ReadyHeight {
			t.Fatalf("localnet status --json row %d = %+v after up printed %+v", i, s, sts[i])
		}
	}
	r.sum.set(k1Up, "4 nodes ready in %s (pids %v)", time.Since(start).Round(100*time.Millisecond), pidsOf(st2))

	all := a.names()
	survivors := without(all, r.victim)
	if _, err := a.cli(ctx, "ns", "register", namespace, "--api", a.node("node0").API); err != nil {
		t.Fatalf("register namespace %q on node0: %v", namespace, err)
	}

	// Records go through node0, whose operator key owns the namespace; a
	// queue keeps the writers from waiting on commits.
	var killed atomic.Bool
	recQ := make(chan *blob, r1Blobs)
	var recWG sync.WaitGroup
	recWG.Go(func() {
		for b := range recQ {
			rs := &recordSub{key: fmt.Sprintf("blob-%03d", b.spec.idx), b: b, phase: "before kill"}
			if killed.Load() {
				rs.phase = "during kill"
			}
			for try := 1; try <= 3; try++ {
				sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
				res, err := a.clients["node0"].SubmitRecord(sctx, namespace, rs.key, b.cid)
				cancel()
				rs.height, rs.err = res.Height, err
				if err == nil || ctx.Err() != nil {
					break
				}
			}
			r.records = append(r.records, rs)
		}
	})

	specs := makeSpecs("net4", r.seed, r1Blobs, r1MinSize, r1MaxSize)
	var acks atomic.Int64
	killNow := make(chan struct{})
	var killOnce sync.Once
	onAck := func(b *blob) {
		if b.how == "http" && b.spec.idx%recordEvery == 0 {
			recQ <- b
		}
		if acks.Add(1) == r1KillAt {
			killOnce.Do(func() { close(killNow) })
		}
	}

	// A few blobs through the CLI first.
	var cliBlobs []*blob
	for _, s := range specs[:r1CLIBlobs] {
		b, err := a.putCLI(ctx, "node1", s, r.work)
		if err != nil {
			t.Fatalf("xnode put: %v", err)
		}
		cliBlobs = append(cliBlobs, b)
		onAck(b)
		rs := &recordSub{key: fmt.Sprintf("cli-%03d", s.idx), b: b, phase: "before kill"}
		out, err := a.cli(ctx, "submit", "--json", "--api", a.node("node0").API, namespace+"/"+rs.key, b.cid)
		if err != nil {
			t.Fatalf("xnode submit: %v", err)
		}
		var sub struct {
			Height int64 `json:"height"`
		}
		if err := json.Unmarshal(out, &sub); err != nil || sub.Height <= 0 {
			t.Fatalf("xnode submit --json printed %q: %v", out, err)
		}
		rs.height = sub.Height
		r.records = append(r.records, rs)
	}

	load := &writeLoad{c: a, writers: all[:writeWorkers], tries: 3, onAck: onAck}
	var hAtKill int64
	killDone := make(chan error, 1)
	go func() {
		select {
		case <-killNow:
		case <-ctx.Done():
			killDone <- ctx.Err()
			return
		}
		_, hAtKill, _ = a.heights(ctx, survivors)
		err := a.kill(r.victim, syscall.SIGKILL)
		r.killedAt = time.Now()
		killed.Store(true)
		load.markDead(r.victim)
		killDone <- err
	}()
	res := load.run(ctx, specs[r1CLIBlobs:])
	close(recQ)
	recWG.Wait()
	select {
	case err := <-killDone:
		if err != nil {
			t.Fatalf("kill -9 %s: %v", r.victim, err)
		}
	default:
		t.Fatalf("the kill never happened: only %d of %d writes acknowledged (failures: %v)", acks.Load(), r1Blobs, res.errs)
	}

	acked := append(cliBlobs, res.acked...)
	r.aBlobs = acked
	r.mustRun(t, a, survivors)
	before, during := 0, 0
	for _, b := range acked {
		if b.ackedAt.Before(r.killedAt) {
			before++
		} else {
			during++
		}
	}
	firstAfter := time.Duration(-1)
	for _, b := range acked {
		if d := b.ackedAt.Sub(r.killedAt); d >= 0 && (firstAfter < 0 || d < firstAfter) {
			firstAfter = d
		}
	}
	r.sum.set(k1Acked, "%d of %d (%d before the kill, %d after; %d via xnode put) in %s; min replicas in an ack %d; slowest put %s; first ack %s after the kill",
		len(acked), r1Blobs, before, during, len(cliBlobs), res.took.Round(100*time.Millisecond), res.minReplicas,
		res.slowest.Round(time.Millisecond), firstAfter.Round(time.Millisecond))
	r.sum.set(k1Bytes, "%.1f MiB (%.1f MiB/s over HTTP)", mib(totalBytes(acked)), mib(totalBytes(res.acked))/res.took.Seconds())
	r.sum.add(k1Failed, res.failedAttempts)
	r.sum.add(k1GaveUp, res.gaveUp)
	r.sum.add(kTAcked, len(acked))
	r.sum.add(kTFailed, res.failedAttempts)
	r.sum.set(k1Kill, "%s (pid %d) after %d acknowledged writes", r.victim, a.node(r.victim).PID(), r1KillAt)
	for _, e := range res.errs {
		t.Logf("unacknowledged write: %s", e)
	}
	if res.minReplicas < replication {
		r.failf(t, "a put was acknowledged with %d replicas, want %d", res.minReplicas, replication)
	}

	// The chain keeps committing without the dead validator.
	hLater, err := a.waitHeightAbove(ctx, survivors, hAtKill+3, 60*time.Second)
	r.sum.set(k1Heights, "%d -> %d", hAtKill, hLater)
	if err != nil {
		r.failf(t, "chain stalled after the kill: %v", err)
	}

	// The CLI reads its own blobs back from a survivor.
	cliErrs := 0
	for _, b := range cliBlobs {
		if err := a.getCLI(ctx, "node2", b, r.work); err != nil {
			if strings.Contains(err.Error(), errWrongBytes.Error()) {
				r.failf(t, "%v", err)
				r.sum.add(kTWrong, 1)
			}
			cliErrs++
			t.Logf("xnode get: %v", err)
		}
	}
	r.sum.set(k1CLIGet, "%d of %d match", len(cliBlobs)-cliErrs, len(cliBlobs))
	r.sum.add(kTFaultErrs, cliErrs)

	// Every acknowledged blob, from every survivor, while the node is dead.
	rs := a.readAll(ctx, survivors, acked, 3, readWorkers)
	r.sum.set(k1Read, "%v", rs)
	r.sum.add(kTFaultErrs, rs.errors)
	r.noteWrong(t, rs)
	logErrors(t, "read-back", rs)
	// The check itself: a blob compared with another blob's digest must be
	// caught as wrong bytes, or the reads above proved nothing.
	if decoy := *acked[0]; acked[len(acked)-1].sum != decoy.sum {
		decoy.sum = acked[len(acked)-1].sum
		if err := a.readOnce(ctx, "node0", &decoy, 30*time.Second); !errors.Is(err, errWrongBytes) {
			r.failf(t, "the byte comparison did not catch a mismatch: %v", err)
		}
	}

	r.mustRun(t, a, survivors)
	// Records submitted before and during the kill become verified.
	r.checkRecords(t, ctx, "node0", 150*time.Second, k1Records, true)
	for _, rs := range r.records[:len(cliBlobs)] {
		out, err := a.cli(ctx, "record", "--json", "--api", a.node("node1").API, namespace+"/"+rs.key)
		var rec struct{ Status, CID string }
		if err == nil {
			err = json.Unmarshal(out, &rec)
		}
		if err != nil || rec.Status != "verified" || rec.CID != rs.b.cid {
			r.failf(t, "xnode record --json %s/%s: %+v, %v", namespace, rs.key, rec, err)
		}
	}

	// Repair puts R live replicas of every block around the dead node
	// (detection, then the grace period, then a pass).
	live := peerSet(a, survivors)
	done, err := a.waitReplicated(ctx, "node0", acked, replication, live, 3*time.Minute)
	if err != nil {
		r.sum.set(k1Rerepl, "NOT within 3m of the kill: %v", err)
		r.failf(t, "re-replication around %s: %v", r.victim, err)
	} else {
		rc, _ := a.repairConfig("node0")
		r.sum.set(k1Rerepl, "%s after the kill (repair grace %s, anti-entropy %s)",
			done.Sub(r.killedAt).Round(100*time.Millisecond), rc.Grace.D(), rc.AntiEntropyInterval.D())
	}

	// What a survivor could not serve during the fault must be served now.
	lost := r.recheck(t, a, rs, survivors)
	r.sum.add(k1Lost, lost)
	r.sum.add(kTLost, lost)
}

// recheck reads again the blobs some node could not serve, after the fault
// was detected and repaired around; what still fails is lost.
func (r *faultRun) recheck(t *testing.T, c *cluster, rs *readStats, nodes []string) int {
	if len(rs.unreadable) == 0 {
		return 0
	}
	var again []*blob
	for b := range rs.unreadable {
		again = append(again, b)
	}
	rs2 := c.readAll(t.Context(), nodes, again, 3, readWorkers)
	r.sum.add(kTCleanErrs, rs2.errors)
	r.noteWrong(t, rs2)
	for b, ns := range rs2.unreadable {
		r.failf(t, "LOST: acknowledged %s cannot be read from %v after the fault was repaired around", b, ns)
	}
	return len(rs2.unreadable)
}

// logErrors logs the sample of read errors rs kept.
func logErrors(t *testing.T, what string, rs *readStats) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, e := range rs.samples {
		t.Logf("%s: read error: %s", what, e)
	}
}

// noteWrong fails the test for every read that served wrong bytes.
func (r *faultRun) noteWrong(t *testing.T, rs *readStats) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r.sum.add(kTWrong, len(rs.wrong))
	for _, w := range rs.wrong {
		r.failf(t, "%s", w)
	}
}

// checkRecords polls the scenario 1 records on node until all are verified.
func (r *faultRun) checkRecords(t *testing.T, ctx context.Context, node string, timeout time.Duration, key string, count bool) {
	c := r.a.clients[node]
	submitted, verified, byPhase := 0, 0, map[string]int{}
	var pending []*recordSub
	for _, rs := range r.records {
		if rs.err != nil {
			t.Logf("record %s was not committed (%s): %v", rs.key, rs.phase, rs.err)
			continue
		}
		submitted++
		byPhase[rs.phase]++
		pending = append(pending, rs)
	}
	start := time.Now()
	var last string
	err := poll(ctx, timeout, 500*time.Millisecond, func() (bool, error) {
		var still []*recordSub
		for _, rs := range pending {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			rec, err := c.Record(qctx, namespace, rs.key)
			cancel()
			switch {
			case err != nil:
				last = fmt.Sprintf("%s: %v", rs.key, err)
				still = append(still, rs)
			case rec.Status == "verified":
				if rec.CID != rs.b.cid {
					return false, fmt.Errorf("record %s names %s, submitted %s", rs.key, rec.CID, rs.b.cid)
				}
			case rec.Status == "failed":
				return false, fmt.Errorf("record %s (%s) FAILED verification: %+v", rs.key, rs.b, rec.Attestations)
			default:
				last = fmt.Sprintf("%s: %s with %d attestations", rs.key, rec.Status, len(rec.Attestations))
				still = append(still, rs)
			}
		}
		pending = still
		return len(pending) == 0, nil
	})
	verified = submitted - len(pending)
	r.sum.set(key, "%d / %d (%d submitted before the kill, %d during; %d not committed) in %s",
		verified, submitted, byPhase["before kill"], byPhase["during kill"], len(r.records)-submitted, time.Since(start).Round(100*time.Millisecond))
	if count {
		r.sum.add(kTRecords, len(pending))
	}
	if submitted == 0 {
		r.failf(t, "no record was committed")
	}
	if err != nil {
		r.failf(t, "records on %s: %d of %d not verified (last: %s): %v", node, len(pending), submitted, last, err)
	}
}

// Scenario 2: the killed node comes back.
func (r *faultRun) recovery(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	defer func() { r.sum.set(k2Took, "%s", time.Since(start).Round(time.Second)) }()
	a, all := r.a, r.a.names()
	oldPID := a.node(r.victim).PID()

	sts, err := a.restart(ctx)
	if err != nil {
		t.Fatalf("restart with xnode localnet up: %v", err)
	}
	for _, s := range sts {
		if !s.Alive {
			t.Fatalf("after restart %s is not alive: %+v", s.Name, s)
		}
	}
	r.mustRun(t, a, all)
	newPID := a.node(r.victim).PID()
	if newPID == oldPID {
		t.Fatalf("%s still has pid %d after kill -9 and restart", r.victim, oldPID)
	}
	r.sum.set(k2Restart, "%s (pid %d -> %d) in %s", r.victim, oldPID, newPID, time.Since(start).Round(100*time.Millisecond))

	// Compare the app hash of all four at one common height at least as
	// high as the others were when we began.
	_, hi, _ := a.heights(ctx, without(all, r.victim))
	h, hash, err := a.waitSameState(ctx, all, hi, 90*time.Second)
	if err != nil {
		r.sum.set(k2CatchUp, "NO: %v", err)
		r.failf(t, "%s did not catch up: %v", r.victim, err)
	} else {
		r.sum.set(k2CatchUp, "height %d, app hash %.16s…, %s after the restart began", h, hash, time.Since(start).Round(100*time.Millisecond))
	}

	if err := a.waitMemberState(ctx, all, []string{r.victim}, 60*time.Second, "alive"); err != nil {
		r.failf(t, "membership: %v", err)
	}
	done, err := a.waitReplicated(ctx, "node0", r.aBlobs, replication, peerSet(a, all), 4*time.Minute)
	if err != nil {
		r.sum.set(k2Restored, "NO: %v", err)
		r.failf(t, "repair after the restart: %v", err)
	} else {
		r.sum.set(k2Restored, "%s after the restart began (%d blobs, %d blocks)", done.Sub(start).Round(100*time.Millisecond), len(r.aBlobs), countBlocks(r.aBlobs))
	}

	rs := a.readAll(ctx, []string{r.victim}, r.aBlobs, 3, readWorkers)
	r.sum.set(k2Read, "%v", rs)
	r.sum.add(kTCleanErrs, rs.errors)
	r.noteWrong(t, rs)
	if rs.errors > 0 || len(rs.unreadable) > 0 {
		r.failf(t, "after recovery %s: %v (e.g. %v)", r.victim, rs, rs.samples)
	}
	r.checkRecords(t, ctx, r.victim, 30*time.Second, k2Records, false)
}

// Scenario 3: a paused node.
func (r *faultRun) pause(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	defer func() { r.sum.set(k3Took, "%s", time.Since(start).Round(time.Second)) }()
	a, all := r.a, r.a.names()
	paused := "node2"
	others := without(all, paused)
	rc, err := a.repairConfig(paused)
	if err != nil {
		t.Fatal(err)
	}
	const moved = "xnode_repair_bytes_moved_total"
	before, perBefore, err := a.metricSum(ctx, all, moved)
	if err != nil {
		t.Fatal(err)
	}
	_, hBefore, _ := a.heights(ctx, all)

	lr := a.startLightReader(ctx, others, r.aBlobs, 2, r.seed+3)
	if err := a.kill(paused, syscall.SIGSTOP); err != nil {
		lr.stop()
		t.Fatalf("SIGSTOP %s: %v", paused, err)
	}
	stoppedAt := time.Now()
	contDone := false
	defer func() {
		if !contDone {
			_ = a.kill(paused, syscall.SIGCONT)
		}
	}()
	// While it sleeps, watch node0 notice it; then wait out the 20 s.
	failedAt := time.Time{}
	seen := "alive (not noticed)"
	_ = poll(ctx, pauseFor, 200*time.Millisecond, func() (bool, error) {
		ms, err := a.memberStates(ctx, "node0")
		if err != nil {
			return false, nil
		}
		st := ms[a.node(paused).PeerID]
		if st == "suspect" && !strings.HasPrefix(seen, "suspect") && !strings.HasPrefix(seen, "failed") {
			seen = fmt.Sprintf("suspect after %s", time.Since(stoppedAt).Round(100*time.Millisecond))
		}
		if st == "failed" {
			failedAt = time.Now()
			seen += fmt.Sprintf(", failed after %s", failedAt.Sub(stoppedAt).Round(100*time.Millisecond))
			return true, nil
		}
		return false, nil
	})
	select {
	case <-time.After(time.Until(stoppedAt.Add(pauseFor))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	if err := a.kill(paused, syscall.SIGCONT); err != nil {
		lr.stop()
		t.Fatalf("SIGCONT %s: %v", paused, err)
	}
	contDone = true
	contAt := time.Now()
	if err := a.waitMemberState(ctx, others, []string{paused}, 60*time.Second, "alive"); err != nil {
		r.failf(t, "after SIGCONT: %v", err)
	}
	seen += fmt.Sprintf("; alive again %s after SIGCONT", time.Since(contAt).Round(100*time.Millisecond))
	r.sum.set(k3Detect, "%s", seen)

	// Let repair have its say: past the grace timer of the failure event
	// (failed + grace + 1 s) and one anti-entropy pass after SIGCONT, and
	// until every node made a repair pass after SIGCONT.
	const passes = "xnode_repair_passes_total"
	_, passesAtCont, err := a.metricSum(ctx, all, passes)
	if err != nil {
		r.failf(t, "metrics after SIGCONT: %v", err)
	}
	settle := contAt.Add(rc.AntiEntropyInterval.D())
	if !failedAt.IsZero() {
		settle = latest(settle, failedAt.Add(rc.Grace.D()+time.Second))
	}
	settle = settle.Add(5 * time.Second)
	t.Logf("waiting %s for repair to settle (grace %s, anti-entropy %s)", time.Until(settle).Round(time.Second), rc.Grace.D(), rc.AntiEntropyInterval.D())
	if err := wait(ctx, time.Until(settle)); err != nil {
		t.Fatal(err)
	}
	err = poll(ctx, rc.AntiEntropyInterval.D()+30*time.Second, time.Second, func() (bool, error) {
		_, now, err := a.metricSum(ctx, all, passes)
		if err != nil {
			return false, nil
		}
		for n, v := range now {
			if v <= passesAtCont[n] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		r.failf(t, "not every node made a repair pass after SIGCONT: %v", err)
	}
	ls := lr.stop()
	r.mustRun(t, a, all)
	after, perAfter, err := a.metricSum(ctx, all, moved)
	if err != nil {
		t.Fatal(err)
	}
	var per []string
	for _, n := range all {
		per = append(per, fmt.Sprintf("%s %+.0f", n, perAfter[n]-perBefore[n]))
	}
	r.sum.set(k3Moved, "%.0f bytes (%s) from SIGSTOP to %s after SIGCONT; expected ~0 (grace %s > pause %s)",
		after-before, strings.Join(per, ", "), time.Since(contAt).Round(time.Second), rc.Grace.D(), pauseFor)
	if after-before > 0 {
		t.Logf("repair moved %.0f bytes around a %s pause; its log lines:", after-before, pauseFor)
		for _, n := range all {
			for _, l := range a.grepLogs(n, 5, `"repair pass"`) {
				t.Logf("  %s: %s", n, l)
			}
		}
	}
	r.sum.set(k3Reader, "%v", ls)
	logErrors(t, "light reader during the pause", ls)
	r.sum.add(kTFaultErrs, ls.errors)
	r.noteWrong(t, ls)
	_, hAfter, _ := a.heights(ctx, all)
	r.sum.set(k3Heights, "%d -> %d", hBefore, hAfter)
	if hAfter <= hBefore {
		r.failf(t, "chain did not advance across the pause: %d -> %d", hBefore, hAfter)
	}

	// Nothing lost: everything from the paused node, 50 random blobs from
	// random nodes.
	rs := a.readAll(ctx, []string{paused}, r.aBlobs, 3, readWorkers)
	rng := rand.New(rand.NewPCG(r.seed, 50))
	sample := slices.Clone(r.aBlobs)
	rng.Shuffle(len(sample), func(i, j int) { sample[i], sample[j] = sample[j], sample[i] })
	sample = sample[:min(50, len(sample))]
	var rsS []*readStats
	for i, b := range sample {
		rsS = append(rsS, a.readAll(ctx, []string{others[i%len(others)]}, []*blob{b}, 3, 1))
	}
	lost := map[*blob]bool{}
	errs, reads := rs.errors, rs.attempts
	r.noteWrong(t, rs)
	for b := range rs.unreadable {
		lost[b] = true
	}
	for _, s := range rsS {
		errs += s.errors
		reads += s.attempts
		r.noteWrong(t, s)
		for b := range s.unreadable {
			lost[b] = true
		}
	}
	r.sum.set(k3Read, "%d reads of %d blobs + %d sampled, %d errors, %d unreadable", reads, len(r.aBlobs), len(sample), errs, len(lost))
	r.sum.add(kTCleanErrs, errs)
	r.sum.add(k3Lost, len(lost))
	r.sum.add(kTLost, len(lost))
	for b := range lost {
		r.failf(t, "LOST after the pause: %s", b)
	}
	if errs > 0 {
		r.failf(t, "read errors after the pause: %v %v", rs.samples, rsS[0].samples)
	}
}

// Scenario 4: a 7-node network loses two nodes.
func (r *faultRun) largerNet(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	defer func() { r.sum.set(k4Took, "%s", time.Since(start).Round(time.Second)) }()
	dir := filepath.Join(r.work, "net7")
	_, err := localnet.Up(ctx, localnet.Options{N: 7, Dir: dir, Bin: r.bin, ReadyTimeout: 2 * time.Minute})
	if _, lerr := localnet.LoadLayout(dir); lerr == nil {
		if c, cerr := newCluster(r.parent, "net7", dir, r.bin); cerr == nil {
			r.b = c
		}
	}
	if err != nil {
		t.Fatalf("localnet.Up 7 nodes: %v", err)
	}
	if r.b == nil {
		t.Fatal("7-node network: no layout")
	}
	b, all := r.b, r.b.names()
	r.sum.set(k4Up, "7 nodes ready in %s", time.Since(start).Round(100*time.Millisecond))
	victims := []string{"node5", "node6"}
	survivors := without(all, victims...)

	load := &writeLoad{c: b, writers: all[:writeWorkers], tries: 3}
	res := load.run(ctx, makeSpecs("net7", r.seed, r4Blobs, r1MinSize, r4MaxSize))
	acked := res.acked
	r.sum.set(k4Acked, "%d of %d, %.1f MiB in %s, min replicas in an ack %d, slowest put %s", len(acked), r4Blobs, mib(totalBytes(acked)), res.took.Round(100*time.Millisecond), res.minReplicas, res.slowest.Round(time.Millisecond))
	r.sum.add(k4Failed, res.failedAttempts)
	r.sum.add(kTAcked, len(acked))
	r.sum.add(kTFailed, res.failedAttempts)
	if len(acked) == 0 {
		t.Fatalf("no write acknowledged on the 7-node network: %v", res.errs)
	}
	if res.minReplicas < replication {
		r.failf(t, "a put was acknowledged with %d replicas, want %d", res.minReplicas, replication)
	}

	lr := b.startLightReader(ctx, survivors, acked, 2, r.seed+7)
	_, hAtKill, _ := b.heights(ctx, survivors)
	for _, v := range victims {
		if err := b.kill(v, syscall.SIGKILL); err != nil {
			lr.stop()
			t.Fatalf("kill -9 %s: %v", v, err)
		}
	}
	killedAt := time.Now()
	// Watch for the detection while the first read pass runs.
	type detection struct {
		at  time.Time
		err error
	}
	detected := make(chan detection, 1)
	go func() {
		err := b.waitMemberState(ctx, survivors, victims, 90*time.Second, "failed")
		detected <- detection{time.Now(), err}
	}()

	passA := b.readAll(ctx, survivors, acked, 1, readWorkers)
	r.sum.set(k4PassA, "%v", passA)
	logErrors(t, "right after the kills", passA)
	r.sum.add(kTFaultErrs, passA.errors)
	r.noteWrong(t, passA)
	r.mustRun(t, b, survivors)

	d := <-detected
	if d.err != nil {
		r.sum.set(k4Detect, "NO: %v", d.err)
		r.failf(t, "failure detection: %v", d.err)
	} else {
		r.sum.set(k4Detect, "%s after the kills", d.at.Sub(killedAt).Round(100*time.Millisecond))
	}
	passB := b.readAll(ctx, survivors, acked, 1, readWorkers)
	r.sum.set(k4PassB, "%v", passB)
	logErrors(t, "after detection", passB)
	r.sum.add(kTFaultErrs, passB.errors)
	r.noteWrong(t, passB)

	done, err := b.waitReplicated(ctx, "node0", acked, replication, peerSet(b, survivors), 3*time.Minute)
	if err != nil {
		r.sum.set(k4Rerepl, "NOT within 3m: %v", err)
		r.failf(t, "re-replication around %v: %v", victims, err)
	} else {
		rc, _ := b.repairConfig("node0")
		r.sum.set(k4Rerepl, "%s after the kills (repair grace %s)", done.Sub(killedAt).Round(100*time.Millisecond), rc.Grace.D())
	}
	ls := lr.stop()
	r.sum.set(k4Reader, "%v", ls)
	logErrors(t, "light reader during the kills", ls)
	r.sum.add(kTFaultErrs, ls.errors)
	r.noteWrong(t, ls)

	passC := b.readAll(ctx, survivors, acked, 3, readWorkers)
	r.sum.set(k4PassC, "%v", passC)
	r.sum.add(kTCleanErrs, passC.errors)
	r.noteWrong(t, passC)
	if passC.errors > 0 {
		r.failf(t, "read errors after detection and grace: %v (e.g. %v)", passC, passC.samples)
	}
	r.sum.add(k4Lost, len(passC.unreadable))
	r.sum.add(kTLost, len(passC.unreadable))
	for bl, ns := range passC.unreadable {
		r.failf(t, "LOST: acknowledged %s cannot be read from %v", bl, ns)
	}

	hLater, err := b.waitHeightAbove(ctx, survivors, hAtKill+3, 60*time.Second)
	r.sum.set(k4Heights, "%d -> %d", hAtKill, hLater)
	if err != nil {
		r.failf(t, "chain stalled with 2 of 7 validators dead: %v", err)
	}
}

// Scenario 5: `xnode localnet down` leaves nothing behind.
func (r *faultRun) shutdown(t *testing.T, c *cluster, key string) {
	ctx := t.Context()
	start := time.Now()
	c.notePIDs()
	if _, err := c.cli(ctx, "localnet", "down", "--dir", c.dir); err != nil {
		r.failf(t, "xnode localnet down: %v", err)
	}
	var left []string
	total := 0
	for name, pids := range c.allPIDs() {
		for pid := range pids {
			total++
			if c.runs(name, pid) {
				left = append(left, fmt.Sprintf("%s pid %d", name, pid))
			}
		}
	}
	slices.Sort(left)
	sts, err := c.cliStatus(ctx)
	if err != nil {
		r.failf(t, "xnode localnet status --json after down: %v", err)
	}
	for _, s := range sts {
		if s.Alive {
			left = append(left, fmt.Sprintf("%s reported alive (pid %d)", s.Name, s.PID))
		}
	}
	r.sum.add(kTLeft, len(left))
	r.sum.set(key, "%d pids recorded over the run, %d left behind, status --json alive=false for %d nodes, %s",
		total, len(left), len(sts), time.Since(start).Round(100*time.Millisecond))
	if len(left) > 0 {
		r.failf(t, "processes left behind: %v", left)
	}
}

// mustRun stops the scenario when a node that should run has exited.
func (r *faultRun) mustRun(t *testing.T, c *cluster, names []string) {
	t.Helper()
	if err := c.exited(names...); err != nil {
		r.failf(t, "%v", err)
		t.FailNow()
	}
}

// without returns names minus drop.
func without(names []string, drop ...string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(drop, n) {
			out = append(out, n)
		}
	}
	return out
}

func peerSet(c *cluster, names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[c.node(n).PeerID] = true
	}
	return out
}

func pidsOf(sts []localnet.NodeStatus) []int {
	out := make([]int, len(sts))
	for i, s := range sts {
		out[i] = s.PID
	}
	return out
}

// countBlocks counts the blobs' blocks: a one-chunk blob is its own root;
// a larger one has a root over its chunks (up to 174 of them).
func countBlocks(bs []*blob) int {
	n := 0
	for _, b := range bs {
		if b.chunks <= 1 {
			n++
		} else {
			n += 1 + b.chunks
		}
	}
	return n
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
