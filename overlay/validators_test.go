package overlay_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// validatorByPeer finds the validator of peer id p in vs.
func validatorByPeer(vs []api.Validator, p string) (api.Validator, bool) {
	for _, v := range vs {
		if v.PeerID == p {
			return v, true
		}
	}
	return api.Validator{}, false
}

func height(t *testing.T, c *api.Client) int64 {
	t.Helper()
	st, err := c.Status(context.Background())
	if err != nil {
		return 0
	}
	return st.Height
}

// TestOpenValidatorSet: 4 genesis validators; 3 more nodes join (observers
// until they register), are funded by genesis operators, and create
// validators; within a few blocks there are 7 validators, each verifying.
// Then 2 of the original 4 are closed abruptly: under a third of the power,
// so the chain keeps committing, a new record becomes verified by the
// validators that joined, and every acknowledged blob is readable.
func TestOpenValidatorSet(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams() // R=3
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 4, AntiEntropy: time.Second, ReadyTimeout: 2 * time.Minute})
	ctx := context.Background()
	blobs := putBlobs(t, clients(t, net.Nodes), 6, 41)

	for range 3 {
		n := net.AddObserver(t)
		if !n.Observer() {
			t.Fatalf("a node that joined without registering is not an observer")
		}
		st, err := n.Status(ctx)
		if err != nil || st.Role != overlay.RoleObserver {
			t.Fatalf("joined node: role %q (%v), want observer", st.Role, err)
		}
	}
	for i := 4; i < 7; i++ {
		net.Fund(t, i-4, i, 10*localnet.JoinedStake)
		net.CreateValidator(t, i, localnet.JoinedStake)
	}
	cs := clients(t, net.Nodes)
	start := height(t, cs[0])
	var last string
	tu.Eventually(t, 60*time.Second, func() bool {
		vs, err := cs[0].Validators(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		active := 0
		for _, v := range vs {
			if v.Status == "active" && v.Power > 0 {
				active++
			}
		}
		last = fmt.Sprintf("%d active validators", active)
		if active != 7 {
			return false
		}
		for i, c := range cs {
			st, err := c.Status(ctx)
			if err != nil || st.Role != overlay.RoleValidator {
				last = fmt.Sprintf("node %d: role %q (%v)", i, st.Role, err)
				return false
			}
		}
		return true
	}, "7 validators: %s", last)
	t.Logf("7 validators %d blocks after the last create_validator", height(t, cs[0])-start)
	localnet.WaitConverged(t, net.Nodes, 7, 60*time.Second)
	blobs = append(blobs, putBlobs(t, cs, 6, 42)...)

	// Close 2 of the original 4 abruptly.
	for _, i := range []int{1, 2} {
		if err := net.Stop(i); err != nil {
			t.Fatal(err)
		}
	}
	live := clients(t, net.Live())
	h := height(t, live[0])
	tu.Eventually(t, 60*time.Second, func() bool { return height(t, live[0]) >= h+3 }, "the chain commits with 5 of 7 validators")

	data := randomBytes(1<<20 + 99)
	res, err := live[1].Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	blobs = append(blobs, stored{cid: res.CID, data: data})
	// With 2 of 7 validators gone a block can take longer than the node's
	// commit wait: a pending answer is waited out, not a failure.
	ns, err := live[0].RegisterNamespace(ctx, "gov")
	committed(t, live[0], ns, err)
	sub, err := live[0].SubmitRecord(ctx, "gov", "after-loss", res.CID)
	committed(t, live[0], sub, err)
	var rec api.Record
	tu.Eventually(t, 90*time.Second, func() bool {
		rec, err = live[2].Record(ctx, "gov", "after-loss")
		return err == nil && rec.Status == "verified"
	}, "the new record is verified by 5 of 7 validators: %+v (%v)", rec, err)
	if len(rec.Attestations) < 5 {
		t.Fatalf("verified with %d attestations: the joined validators must have attested", len(rec.Attestations))
	}
	for _, c := range live {
		if err := readAll(c, blobs); err != nil {
			t.Fatal(err)
		}
	}
}

// TestValidatorJailedAndUnjailed: a validator kept down past its signed
// window is jailed while the chain goes on; once its
// jail time is over and it is back, unjail returns it to the set, and it
// votes again: it stays active through two more windows.
func TestValidatorJailedAndUnjailed(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	params.SignedWindow = 10
	params.JailTime = int64(5 * time.Second)
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 4})
	ctx := context.Background()
	cs := clients(t, net.Nodes)
	victim := net.Nodes[3].ID().String()
	validator := func() api.Validator {
		vs, err := cs[0].Validators(ctx)
		if err != nil {
			return api.Validator{}
		}
		v, _ := validatorByPeer(vs, victim)
		return v
	}
	if v := validator(); v.Status != "active" || v.Power == 0 {
		t.Fatalf("victim before: %+v", v)
	}

	if err := net.Stop(3); err != nil {
		t.Fatal(err)
	}
	var v api.Validator
	tu.Eventually(t, 60*time.Second, func() bool { v = validator(); return v.Status == "jailed" }, "the stopped validator is jailed: %+v", v)
	if v.Power != 0 {
		t.Fatalf("jailed with power %d", v.Power)
	}
	tu.Eventually(t, 30*time.Second, func() bool {
		st, err := cs[0].Status(ctx)
		return err == nil && st.Members == 3
	}, "the stopped validator's node is not a live member")
	h := height(t, cs[0])
	tu.Eventually(t, 30*time.Second, func() bool { return height(t, cs[0]) >= h+3 }, "the chain goes on with 3 of 4")

	back := net.Restart(t, 3)
	tu.Eventually(t, 60*time.Second, func() bool {
		st, err := back.Status(ctx)
		return err == nil && !st.CatchingUp && st.Height >= height(t, cs[0])-1
	}, "the restarted validator caught up")
	// Jailed, it is out of the validator set: it neither votes nor attests.
	if st, err := back.Status(ctx); err != nil || st.Role == overlay.RoleValidator {
		t.Fatalf("jailed validator's node: role %q (%v), want no validator", st.Role, err)
	}
	var uerr error
	tu.Eventually(t, 60*time.Second, func() bool { uerr = net.Unjail(t, 3); return uerr == nil }, "unjail commits once the jail time is over: %v", uerr)
	tu.Eventually(t, 30*time.Second, func() bool {
		v = validator()
		st, err := back.Status(ctx)
		return v.Status == "active" && v.Power > 0 && err == nil && st.Role == overlay.RoleValidator
	}, "the unjailed validator is back in the set: %+v", v)

	// Two windows later it is still active: it signs, or it would have been
	// jailed again.
	h = height(t, cs[0])
	tu.Eventually(t, 90*time.Second, func() bool { return height(t, cs[0]) >= h+2*int64(params.SignedWindow) }, "two windows of blocks")
	if v = validator(); v.Status != "active" || v.Power == 0 {
		t.Fatalf("after two windows: %+v", v)
	}
	tu.Eventually(t, 30*time.Second, func() bool {
		st, err := cs[0].Status(ctx)
		return err == nil && st.Members == 4
	}, "the unjailed validator's node is a member again")
}
