package overlay_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// TestVerifiedDataFourValidators: on 4 validators, a record over an intact
// blob becomes verified with the same app hash everywhere; records over a
// blob corrupted on every holder, or missing a chunk everywhere, never do.
func TestVerifiedDataFourValidators(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	nodes := localnet.StartInProcess(t, 4, localnet.InProcessOptions{Params: &params, Validators: 4})
	cs := clients(t, nodes)
	ctx := context.Background()

	put := func(n int) (string, []byte) {
		data := randomBytes(n)
		res, err := cs[0].Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		return res.CID, data
	}
	good, _ := put(2<<20 + 5)
	corrupt, _ := put(2<<20 + 6)
	missing, _ := put(2<<20 + 7)

	// Damage a chunk of corrupt on every node that holds it, and drop a chunk
	// of missing everywhere.
	damage := func(root string, fn func(n *overlay.Node, c cidT)) {
		loc, err := cs[0].Locate(ctx, root)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := block.Parse(loc.Blocks[1].CID)
		for _, n := range nodes {
			if has, _ := n.Store().Has(ctx, c); has {
				fn(n, c)
			}
		}
	}
	damage(corrupt, func(n *overlay.Node, c cidT) { flipByte(t, n.Store(), c) })
	damage(missing, func(n *overlay.Node, c cidT) {
		if err := n.Store().Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
	})

	if _, err := cs[1].RegisterNamespace(ctx, "lab"); err != nil {
		t.Fatal(err)
	}
	for key, root := range map[string]string{"good": good, "corrupt": corrupt, "missing": missing} {
		if _, err := cs[1].SubmitRecord(ctx, "lab", key, root); err != nil {
			t.Fatalf("submit %s: %v", key, err)
		}
	}
	var rec api.Record
	tu.Eventually(t, 60*time.Second, func() bool {
		var err error
		rec, err = cs[2].Record(ctx, "lab", "good")
		return err == nil && rec.Status == "verified"
	}, "good record verified: %+v", rec)
	if len(rec.Attestations) < 3 {
		t.Fatalf("verified with %d attestations", len(rec.Attestations))
	}
	for _, key := range []string{"corrupt", "missing"} {
		tu.Eventually(t, 60*time.Second, func() bool {
			rec, _ = cs[3].Record(ctx, "lab", key)
			return rec.Status == "failed"
		}, "%s record failed: %+v", key, rec)
	}

	// Every node reports the same app hash at the same height.
	tu.Eventually(t, 30*time.Second, func() bool {
		var height int64
		var hash string
		for i, c := range cs {
			st, err := c.Status(ctx)
			if err != nil {
				return false
			}
			if i == 0 {
				height, hash = st.Height, st.AppHash
			} else if st.Height != height || st.AppHash != hash {
				return false
			}
		}
		return hash != ""
	}, "one app hash at one height on all validators")
}
