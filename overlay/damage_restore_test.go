package overlay_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/abci"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
)

// TestDamagedReplicaRestoredAtRestart flips a byte inside a replica on a
// stopped node's disk, then restarts the node. The store's verification pass
// after the restart finds the damaged copy, drops it and reports it, and the
// node fetches it again from another owner at once: not at the next scrub,
// and not by a repair pass (anti-entropy and the passes that membership
// changes call for are held off here, so only the restore can bring it back
// within the wait). Every other block the node held stays readable.
func TestDamagedReplicaRestoredAtRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	params.ReplicationFactor = 2
	net := localnet.NewInProcess(t, 3, localnet.InProcessOptions{
		Params: &params, Validators: 1,
		AntiEntropy: time.Hour, RepairSettle: time.Hour, RepairGrace: time.Hour,
	})
	blobs := putBlobs(t, clients(t, net.Nodes), 6, 21)
	ctx := context.Background()

	// A chunk node 2 holds, and every block it holds with its bytes.
	const victim = 2
	held := map[cid.Cid][]byte{}
	s := net.Nodes[victim].Store()
	if err := s.ForEach(ctx, func(c cid.Cid, size int) error {
		b, err := s.Get(ctx, c)
		if err != nil {
			return err
		}
		held[c] = b.Data
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var damaged cid.Cid
	for c, d := range held {
		if len(d) >= 64<<10 && (!damaged.Defined() || c.KeyString() < damaged.KeyString()) {
			damaged = c
		}
	}
	if !damaged.Defined() || len(held) < 4 {
		t.Fatalf("node %d holds %d blocks, none large enough to damage", victim, len(held))
	}

	if err := net.Stop(victim); err != nil {
		t.Fatal(err)
	}
	tu.FlipByteInside(t, net.Homes[victim].BlocksDir(), held[damaged])
	n := net.Restart(t, victim)

	tu.Eventually(t, 30*time.Second, func() bool {
		b, err := n.Store().Get(ctx, damaged)
		return err == nil && bytes.Equal(b.Data, held[damaged])
	}, "the damaged replica was not restored from another owner")
	if v := metricValue(t, n, "xnode_storage_damaged_blocks_total"); v != 1 {
		t.Fatalf("damaged blocks found = %v, want 1", v)
	}
	if v := metricValue(t, n, "xnode_restore_restored_total"); v != 1 {
		t.Fatalf("blocks restored = %v, want 1", v)
	}
	for c, d := range held {
		b, err := n.Store().Get(ctx, c)
		if err != nil || !bytes.Equal(b.Data, d) {
			t.Fatalf("block %s on the restarted node: %v", c, err)
		}
	}
	if err := readAll(clients(t, net.Nodes[victim:])[0], blobs); err != nil {
		t.Fatal(err)
	}
}
