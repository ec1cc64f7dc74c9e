//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
)

// The open validator set on real processes: 4 genesis validators, 3 nodes
// that join, are funded, and bond; then 2 of the 4 are killed.
const (
	valGenesis   = 4
	valJoined    = 3
	valBlobs     = 6
	valNamespace = "e2e-val"
	// valStake is what each joined node bonds: a genesis validator's stake
	// (localnet.JoinedStake = abci.GenesisStake). It must exceed 2/3 of it,
	// so that 2 of 4 genesis validators plus 3 joined ones keep more than
	// 2/3 of the power: 2M + 3s > 2/3 (4M + 3s) when s > 666,667.
	valStake = localnet.JoinedStake
	// valFund is what node0's operator sends each joined operator.
	valFund = 2 * valStake
)

// Summary keys of TestValidators, in print order.
const (
	kVUp       = "V validators: network up (xnode localnet up -n 4)"
	kVBefore   = "V validators: blobs put / record verified before the joins"
	kVJoin     = "V validators: xnode join x3, caught up, observers on node0"
	kVUnfunded = "V validators: validator create before funding (refused)"
	kVActive   = "V validators: active validators before -> after"
	kVTo7      = "V validators: time to 7 active at full power (from the first create)"
	kVMembers  = "V validators: members without observers"
	kVKill     = "V validators: kill -9"
	kVHeights  = "V validators: chain height at kill -> later on the 5 survivors"
	kVRecord   = "V validators: new record after the kill verified"
	kVReadA    = "V validators: read all x 5 survivors right after the kill"
	kVRerepl   = "V validators: R live replicas around the dead nodes"
	kVReadB    = "V validators: read all x 5 survivors after the grace (must be clean)"
	kVTook     = "V validators: took"
	kVLine     = "V validators: SUMMARY"
)

// joinedNode is a node started with `xnode join`, outside the localnet
// layout: its own home and free 127.0.0.1 ports.
type joinedNode struct {
	name, home, api, logPath string
	peerID                   string
	opAddr, opPub            string // operator account (bech32) and key (hex)
	cmd                      *exec.Cmd
	exited                   chan struct{}
	client                   *api.Client
}

func (j *joinedNode) alive() bool {
	select {
	case <-j.exited:
		return false
	default:
		return true
	}
}

// spawnJoined runs `xnode join BOOTSTRAP` with a new home under dir, its
// output appended to dir/NAME.log (the home must not exist before join).
func spawnJoined(t *testing.T, bin, dir, name, bootstrap string) (*joinedNode, error) {
	apiPort := testutil.FreePort(t)
	j := &joinedNode{
		name: name, home: filepath.Join(dir, name), api: fmt.Sprintf("http://127.0.0.1:%d", apiPort),
		logPath: filepath.Join(dir, name+".log"), exited: make(chan struct{}),
	}
	c, err := api.NewClient(j.api, nil)
	if err != nil {
		return nil, err
	}
	j.client = c
	logf, err := os.OpenFile(j.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	j.cmd = exec.Command(bin, "join", bootstrap, "--home", j.home, "--moniker", name,
		"--api-listen", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", testutil.FreePort(t)),
		"--cmt-p2p-listen", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)),
		"--cmt-rpc-listen", fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t)))
	j.cmd.Stdout, j.cmd.Stderr = logf, logf
	j.cmd.Env = append(os.Environ(), "XNODE_API=", "XNODE_HOME=")
	if err := j.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("xnode join %s: %w", name, err)
	}
	go func() {
		_ = j.cmd.Wait()
		logf.Close()
		close(j.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := readTail(j.logPath, 256<<10)
			t.Logf("%s: last 25 lines of %s:\n%s", name, j.logPath, tail(string(b), 25))
		}
		if !j.alive() {
			return
		}
		_ = j.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-j.exited:
		case <-time.After(20 * time.Second):
			t.Errorf("%s (pid %d) did not stop on SIGTERM in 20 s; SIGKILL", name, j.cmd.Process.Pid)
			_ = j.cmd.Process.Kill()
			<-j.exited
		}
	})
	return j, nil
}

// waitCaughtUp waits until the joined node's API answers with a chain
// that has caught up (an observer is not ready: it holds no data).
func (j *joinedNode) waitCaughtUp(ctx context.Context, timeout time.Duration) (api.Status, error) {
	var st api.Status
	var last string
	err := poll(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		if !j.alive() {
			b, _ := readTail(j.logPath, 64<<10)
			return false, fmt.Errorf("%s exited: %s", j.name, tail(string(b), 10))
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		s, err := j.client.Status(cctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		st = s
		last = fmt.Sprintf("height %d, catching up %v", s.Height, s.CatchingUp)
		return s.Height > 0 && !s.CatchingUp, nil
	})
	if err != nil {
		return st, fmt.Errorf("%s: no caught-up chain (last: %s): %w", j.name, last, err)
	}
	return st, nil
}

// cliJSON runs the CLI with --json and decodes what it prints into v.
func cliJSON(ctx context.Context, bin string, v any, args ...string) error {
	out, err := runCLI(ctx, bin, append(args, "--json")...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(out, v); err != nil {
		return fmt.Errorf("xnode %s --json: decode %q: %w", strings.Join(args, " "), tail(string(out), 5), err)
	}
	return nil
}

// activeValidators runs `xnode validators --json --api API` and returns
// the active validators with power, by consensus key (hex).
func activeValidators(ctx context.Context, bin, apiURL string) (map[string]api.Validator, []api.Validator, error) {
	var vs []api.Validator
	if err := cliJSON(ctx, bin, &vs, "validators", "--api", apiURL); err != nil {
		return nil, nil, err
	}
	out := map[string]api.Validator{}
	for _, v := range vs {
		if v.Status == api.ValidatorActive && v.Power > 0 {
			out[v.PubKey] = v
		}
	}
	return out, vs, nil
}

// TestValidators: a localnet of 4 plus 3 joined nodes that are funded and
// bond becomes a 7-validator network; killing 2 of the original 4 keeps the
// chain committing, records verifying and every blob readable.
func TestValidators(t *testing.T) {
	start := time.Now()
	ctx := t.Context()
	work := t.TempDir()
	bin := xnodeBin(t, work)
	sum := newSummary(kVUp, kVBefore, kVJoin, kVUnfunded, kVActive, kVTo7, kVMembers, kVKill, kVHeights,
		kVRecord, kVReadA, kVRerepl, kVReadB, kVTook, kVLine)
	sum.title = "xnode e2e open validator set: summary"
	sum.pass = "RESULT: PASS: 4 + 3 joined validators; 2 of the 4 killed; the chain, records and reads go on"
	sum.appendEnv = true
	failf := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		sum.fail("%s", msg)
		t.Error(msg)
	}
	fatalf := func(format string, args ...any) {
		t.Helper()
		failf(format, args...)
		t.FailNow()
	}
	defer func() {
		sum.set(kVTook, "%s", time.Since(start).Round(time.Second))
		if t.Failed() && len(sum.fails) == 0 {
			sum.fail("a check failed; see the test log above")
		}
		sum.write(t, work)
	}()

	// 1. Four genesis validators, a few blobs, one verified record.
	dir := filepath.Join(work, "net")
	sts, err := cliUp(ctx, bin, dir, valGenesis)
	var c *cluster
	if _, lerr := localnet.LoadLayout(dir); lerr == nil {
		// Whatever `up` started is stopped by the cluster's cleanup.
		var cerr error
		if c, cerr = newCluster(t, "val", dir, bin); cerr != nil && err == nil {
			err = cerr
		}
	}
	if err != nil {
		fatalf("xnode localnet up -n %d: %v", valGenesis, err)
	}
	if c == nil {
		fatalf("xnode localnet up -n %d left no layout in %s", valGenesis, dir)
	}
	if len(sts) != valGenesis {
		fatalf("localnet up --json listed %d nodes, want %d", len(sts), valGenesis)
	}
	sum.set(kVUp, "%d nodes ready in %s", len(sts), time.Since(start).Round(100*time.Millisecond))
	genesis := c.names()
	n0 := c.node("node0")
	_, hUp, _ := c.heights(ctx, genesis)
	upAt := time.Now()

	active, _, err := activeValidators(ctx, bin, n0.API)
	if err != nil {
		fatalf("%v", err)
	}
	if len(active) != valGenesis {
		fatalf("xnode validators: %d active validators on a fresh localnet of %d", len(active), valGenesis)
	}
	activeBefore := len(active)

	load := &writeLoad{c: c, writers: genesis, tries: 3}
	res := load.run(ctx, valSpecs())
	if len(res.acked) != valBlobs {
		fatalf("%d of %d puts acknowledged: %v", len(res.acked), valBlobs, res.errs)
	}
	blobs := res.acked
	if _, err := c.cli(ctx, "ns", "register", valNamespace, "--api", n0.API); err != nil {
		fatalf("xnode ns register %s: %v", valNamespace, err)
	}
	var sub struct {
		Height int64 `json:"height"`
	}
	if err := cliJSON(ctx, bin, &sub, "submit", "--api", n0.API, valNamespace+"/before", blobs[0].cid); err != nil || sub.Height <= 0 {
		fatalf("xnode submit %s/before: height %d, %v", valNamespace, sub.Height, err)
	}
	rec, took, err := waitVerified(ctx, bin, c.node("node1").API, valNamespace+"/before", 90*time.Second)
	if err != nil {
		fatalf("the record before the joins: %v", err)
	}
	sum.set(kVBefore, "%d blobs, %.1f MiB (min replicas %d) / verified %s after commit at height %d, %d attestations",
		len(blobs), mib(totalBytes(blobs)), res.minReplicas, took.Round(100*time.Millisecond), rec.Height, len(rec.Attestations))

	// 2. Three nodes join through node0; each is an observer.
	joinStart := time.Now()
	var joined []*joinedNode
	for i := range valJoined {
		j, err := spawnJoined(t, bin, work, fmt.Sprintf("join%d", i), n0.P2P)
		if err != nil {
			fatalf("%v", err)
		}
		joined = append(joined, j)
	}
	var wg sync.WaitGroup
	joinErrs := make([]error, valJoined)
	for i, j := range joined {
		wg.Go(func() {
			st, err := j.waitCaughtUp(ctx, 120*time.Second)
			if err == nil && st.Role != "observer" {
				err = fmt.Errorf("%s: role %q before it bonds, want observer", j.name, st.Role)
			}
			j.peerID = st.PeerID
			joinErrs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(joinErrs...); err != nil {
		fatalf("%v", err)
	}
	for _, j := range joined {
		var k struct {
			Address   string `json:"address"`
			PublicKey string `json:"public_key"`
		}
		if err := cliJSON(ctx, bin, &k, "keys", "show", "operator", "--home", j.home); err != nil || k.Address == "" || k.PublicKey == "" {
			fatalf("xnode keys show operator --home %s: %+v, %v", j.home, k, err)
		}
		j.opAddr, j.opPub = k.Address, k.PublicKey
		c.clients[j.name] = j.client
	}
	// node0 lists each as an observer (members --all), and each one's log
	// tells its operator what to do next.
	var last string
	err = poll(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		var ms []api.Member
		if err := cliJSON(ctx, bin, &ms, "members", "--all", "--api", n0.API); err != nil {
			last = err.Error()
			return false, nil
		}
		states := map[string]string{}
		for _, m := range ms {
			states[m.PeerID] = m.State
		}
		for _, j := range joined {
			if states[j.peerID] != api.MemberObserver {
				last = fmt.Sprintf("node0 lists %s as %q", j.name, states[j.peerID])
				return false, nil
			}
			if b, _ := readTail(j.logPath, 1<<20); !bytes.Contains(b, []byte("xnode validator create --stake N")) {
				last = fmt.Sprintf("%s's output does not say what to do next", j.name)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		fatalf("joined nodes as observers: %s: %v", last, err)
	}
	sum.set(kVJoin, "3 joined and listed as observers %s after the first xnode join", time.Since(joinStart).Round(100*time.Millisecond))

	// Bad input: an operator with nothing to bond is refused, naming its
	// balance, and nothing changes.
	_, err = runCLI(ctx, bin, "validator", "create", "--stake", strconv.FormatUint(valStake, 10), "--home", joined[0].home, "--api", joined[0].api)
	var ee *exec.ExitError
	switch {
	case err == nil:
		fatalf("xnode validator create on an unfunded operator succeeded")
	case !errors.As(err, &ee) || ee.ExitCode() != 1:
		fatalf("xnode validator create on an unfunded operator: want exit 1, got %v", err)
	case !strings.Contains(err.Error(), "insufficient_funds") || !strings.Contains(err.Error(), "holds 0"):
		fatalf("xnode validator create on an unfunded operator does not name the balance: %v", err)
	}
	msg := err.Error()
	if i := strings.Index(msg, "validator create: tx"); i >= 0 {
		msg = strings.TrimSpace(strings.SplitN(msg[i:], "\n", 2)[0])
	}
	sum.set(kVUnfunded, "exit 1: %s", msg)

	// 3. Fund each operator from node0's, then bond from each joined node.
	for _, j := range joined {
		if _, err := runCLI(ctx, bin, "send", j.opAddr, strconv.FormatUint(valFund, 10), "--home", n0.Home, "--api", n0.API); err != nil {
			fatalf("fund %s: %v", j.name, err)
		}
	}
	createStart := time.Now()
	createErrs := make([]error, valJoined)
	for i, j := range joined {
		wg.Go(func() {
			_, createErrs[i] = runCLI(ctx, bin, "validator", "create", "--stake", strconv.FormatUint(valStake, 10), "--home", j.home, "--api", j.api)
		})
	}
	wg.Wait()
	if err := errors.Join(createErrs...); err != nil {
		fatalf("xnode validator create: %v", err)
	}
	created := time.Since(createStart)

	// 4. Seven active validators, seen from a node that will survive; the
	// joined nodes are validators and members, no longer observers.
	survivors := []string{"node0", "node1"}
	victims := []string{"node2", "node3"}
	for _, j := range joined {
		survivors = append(survivors, j.name)
	}
	var vs []api.Validator
	err = poll(ctx, 90*time.Second, 250*time.Millisecond, func() (bool, error) {
		act, all, err := activeValidators(ctx, bin, c.node("node1").API)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		vs = all
		last = fmt.Sprintf("%d active of %d", len(act), len(all))
		if len(act) != valGenesis+valJoined {
			return false, nil
		}
		for _, j := range joined {
			v, ok := act[j.opPub]
			if !ok || v.PeerID != j.peerID || v.Address != j.opAddr || v.Stake != valStake {
				return false, fmt.Errorf("%s's validator is %+v, want peer %s, account %s, stake %d", j.name, v, j.peerID, j.opAddr, valStake)
			}
		}
		// The chain moves less than a third of the power per block: the
		// set is whole once every power has reached its stake.
		for _, v := range act {
			if v.Power != int64(v.Stake) {
				last = fmt.Sprintf("7 active, %s… at power %d of stake %d", v.PubKey[:8], v.Power, v.Stake)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		fatalf("7 active validators at full power on node1: %s: %v", last, err)
	}
	to7 := time.Since(createStart)
	victimKeys := map[string]bool{}
	for _, v := range victims {
		var k struct {
			PublicKey string `json:"public_key"`
		}
		if err := cliJSON(ctx, bin, &k, "keys", "show", "operator", "--home", c.node(v).Home); err != nil || k.PublicKey == "" {
			fatalf("xnode keys show operator --home %s: %+v, %v", c.node(v).Home, k, err)
		}
		victimKeys[k.PublicKey] = true
	}
	var total, kept int64
	for _, v := range vs {
		if v.Status == api.ValidatorActive {
			total += v.Power
			if !victimKeys[v.PubKey] {
				kept += v.Power
			}
		}
	}
	if len(victimKeys) != len(victims) {
		fatalf("the nodes to kill share an operator key")
	}
	sum.set(kVActive, "%d -> %d (power %d; %d of it outside the nodes to be killed, %.1f%%)", activeBefore, len(vs), total, kept, 100*float64(kept)/float64(total))
	sum.set(kVTo7, "%s (the three creates committed in %s)", to7.Round(100*time.Millisecond), created.Round(100*time.Millisecond))

	err = poll(ctx, 60*time.Second, 250*time.Millisecond, func() (bool, error) {
		for _, j := range joined {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := j.client.Status(cctx)
			cancel()
			if err != nil || st.Role != "validator" {
				last = fmt.Sprintf("%s: role %q (%v)", j.name, st.Role, err)
				return false, nil
			}
		}
		for _, n := range append(slices.Clone(genesis), joinedNames(joined)...) {
			var ms []api.Member
			if err := cliJSON(ctx, bin, &ms, "members", "--all", "--api", c.clientURL(n, joined)); err != nil {
				last = err.Error()
				return false, nil
			}
			alive := 0
			for _, m := range ms {
				if m.State == api.MemberObserver {
					last = fmt.Sprintf("%s still lists %s as an observer", n, m.PeerID)
					return false, nil
				}
				if m.State == "alive" {
					alive++
				}
			}
			if len(ms) != valGenesis+valJoined || alive != len(ms) {
				last = fmt.Sprintf("%s lists %d members, %d alive", n, len(ms), alive)
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		fatalf("7 members: %s: %v", last, err)
	}
	sum.set(kVMembers, "7 alive members on each of the 7 nodes (members --all), the 3 joined ones validators, %s after the first create", time.Since(createStart).Round(100*time.Millisecond))

	// 5. Kill -9 two of the original four.
	_, hAtKill, _ := c.heights(ctx, survivors)
	var pids []string
	for _, v := range victims {
		pids = append(pids, fmt.Sprintf("%s pid %d", v, c.node(v).PID()))
		if err := c.kill(v, syscall.SIGKILL); err != nil {
			fatalf("kill -9 %s: %v", v, err)
		}
	}
	killedAt := time.Now()
	sum.set(kVKill, "%s at height %d", strings.Join(pids, ", "), hAtKill)

	// 6. A new blob through a joined node and a new record through node0,
	// sent at once, while the chain is watched going on with 5 of 7
	// validators. The record is verified by the validators of the current
	// set, the joined ones among them: with 2 of 7 dead, more than 2/3 of
	// the power needs all 5.
	type newRecord struct {
		b                    *blob
		height               int64
		submitted, committed time.Duration // since the kill
		err                  error
	}
	nrc := make(chan newRecord, 1)
	go func() {
		var nr newRecord
		defer func() { nrc <- nr }()
		spec := makeSpecs("val-after", 1, 1, 1<<20+99, 1<<20+99)[0]
		data := spec.content()
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		pr, err := joined[1].client.Put(pctx, bytes.NewReader(data))
		cancel()
		if err != nil {
			nr.err = fmt.Errorf("put through %s after the kill: %w", joined[1].name, err)
			return
		}
		nr.b = &blob{spec: spec, sum: sha256.Sum256(data), cid: pr.CID, chunks: pr.Chunks, replicas: pr.Replicas, via: joined[1].name, ackedAt: time.Now(), how: "http"}
		nr.submitted = time.Since(killedAt)
		var sub struct {
			Height int64 `json:"height"`
		}
		if err := cliJSON(ctx, bin, &sub, "submit", "--api", n0.API, valNamespace+"/after-kill", nr.b.cid); err != nil || sub.Height <= 0 {
			nr.err = fmt.Errorf("xnode submit %s/after-kill: height %d, %v", valNamespace, sub.Height, err)
			return
		}
		nr.height, nr.committed = sub.Height, time.Since(killedAt)
	}()

	hLater, err := c.waitHeightAbove(ctx, survivors, hAtKill+3, 60*time.Second)
	perBlock := func(d time.Duration, blocks int64) string {
		if blocks <= 0 {
			return "no block"
		}
		return fmt.Sprintf("%s a block", (d / time.Duration(blocks)).Round(10*time.Millisecond))
	}
	sum.set(kVHeights, "%d -> %d (%s after the kill; %s, %s before the kill)", hAtKill, hLater, time.Since(killedAt).Round(100*time.Millisecond),
		perBlock(time.Since(killedAt), hLater-hAtKill), perBlock(killedAt.Sub(upAt), hAtKill-hUp))
	if err != nil {
		fatalf("the chain stalled with %v killed: %v", victims, err)
	}
	nr := <-nrc
	if nr.err != nil {
		fatalf("%v", nr.err)
	}
	rec, _, err = waitVerified(ctx, bin, joined[2].api, valNamespace+"/after-kill", 90*time.Second)
	if err != nil {
		fatalf("the record after the kill: %v", err)
	}
	recAfterKill := time.Since(killedAt)
	attested := map[string]bool{}
	for _, a := range rec.Attestations {
		if a.OK {
			attested[a.Validator] = true
		}
	}
	for _, j := range joined {
		if !attested[j.opPub] {
			failf("the record after the kill was verified without %s's attestation: %+v", j.name, rec.Attestations)
		}
	}
	sum.set(kVRecord, "%s after the kill (blob put and record submitted %s after it, committed at height %d %s after it), %d OK attestations, the 3 joined validators' among them",
		recAfterKill.Round(100*time.Millisecond), nr.submitted.Round(100*time.Millisecond), nr.height, nr.committed.Round(100*time.Millisecond), len(attested))
	after := nr.b
	blobs = append(blobs, after)

	// Every blob from every survivor: at once, then after the failures were
	// detected and the grace let repair restore R live replicas.
	readA := c.readAll(ctx, survivors, blobs, 3, readWorkers)
	sum.set(kVReadA, "%v", readA)
	logErrors(t, "right after the kill", readA)
	for _, w := range readA.wrong {
		failf("%s", w)
	}
	live := map[string]bool{}
	for _, n := range survivors {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		st, err := c.clients[n].Status(cctx)
		cancel()
		if err != nil {
			fatalf("status of %s: %v", n, err)
		}
		live[st.PeerID] = true
	}
	done, err := c.waitReplicated(ctx, "node0", blobs, replication, live, 3*time.Minute)
	if err != nil {
		sum.set(kVRerepl, "NOT within 3m: %v", err)
		failf("re-replication around %v: %v", victims, err)
	} else {
		rc, _ := c.repairConfig("node0")
		sum.set(kVRerepl, "%s after the kill (repair grace %s)", done.Sub(killedAt).Round(100*time.Millisecond), rc.Grace.D())
	}
	readB := c.readAll(ctx, survivors, blobs, 3, readWorkers)
	sum.set(kVReadB, "%v", readB)
	logErrors(t, "after the grace", readB)
	for _, w := range readB.wrong {
		failf("%s", w)
	}
	if readB.errors > 0 || len(readB.unreadable) > 0 {
		failf("after the grace: %v (e.g. %v)", readB, readB.samples)
	}
	if err := c.exited("node0", "node1"); err != nil {
		failf("%v", err)
	}
	for _, j := range joined {
		if !j.alive() {
			failf("%s exited", j.name)
		}
	}

	line := fmt.Sprintf("validators %d -> %d active (%d joined, %d bonded each), 7 active at full power %s after the first validator create; kill -9 %s at height %d -> %d on 5 survivors; new record verified %s after the kill; %d blobs x %d survivors byte-identical after the grace (%d read errors)",
		activeBefore, valGenesis+valJoined, valJoined, valStake, to7.Round(100*time.Millisecond), strings.Join(victims, ","), hAtKill, hLater,
		recAfterKill.Round(100*time.Millisecond), len(blobs), len(survivors), readB.errors)
	sum.set(kVLine, "%s", line)
	t.Log(line)
}

// waitVerified polls `xnode record --json` until the record is verified
// and returns it with the time it took; a failed record is an error at once.
func waitVerified(ctx context.Context, bin, apiURL, key string, timeout time.Duration) (api.Record, time.Duration, error) {
	start := time.Now()
	var rec api.Record
	var last string
	err := poll(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		if err := cliJSON(ctx, bin, &rec, "record", "--api", apiURL, key); err != nil {
			last = err.Error()
			return false, nil
		}
		switch rec.Status {
		case "verified":
			return true, nil
		case "failed":
			return false, fmt.Errorf("record %s FAILED verification: %+v", key, rec.Attestations)
		}
		last = fmt.Sprintf("%s with %d attestations", rec.Status, len(rec.Attestations))
		return false, nil
	})
	if err != nil {
		return rec, 0, fmt.Errorf("record %s on %s not verified (last: %s): %w", key, apiURL, last, err)
	}
	return rec, time.Since(start), nil
}

// clientURL is the API of a localnet node or a joined one, by name.
func (c *cluster) clientURL(name string, joined []*joinedNode) string {
	for _, j := range joined {
		if j.name == name {
			return j.api
		}
	}
	return c.node(name).API
}

func joinedNames(js []*joinedNode) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.name
	}
	return out
}

// valSpecs are the blobs put before the joins: sizes spread over
// 1 KiB..3 MiB, the larger ones of several chunks.
func valSpecs() []blobSpec {
	sizes := [valBlobs]int64{1 << 10, 40<<10 + 7, 300 << 10, 1<<20 + 1, 2<<20 - 3, 3 << 20}
	specs := makeSpecs("val", 1, valBlobs, 1<<10, 3<<20)
	for i := range specs {
		specs[i].size = sizes[i]
	}
	return specs
}
