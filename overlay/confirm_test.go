package overlay

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/storage"
)

// memberStores stands in for the transfer protocol to the other members:
// each holds blocks in memory, tentative until confirmed. A member listed in
// dieOnConfirm stores what it is sent, then fails when asked to confirm and
// answers nothing after that, as a node killed mid-put does.
type memberStores struct {
	mu           sync.Mutex
	held         map[peer.ID]map[cid.Cid]block.Block
	confirmed    map[peer.ID]map[cid.Cid]bool
	dieOnConfirm map[peer.ID]bool
	dead         map[peer.ID]bool
}

func newMemberStores(dieOnConfirm ...peer.ID) *memberStores {
	m := &memberStores{
		held:         map[peer.ID]map[cid.Cid]block.Block{},
		confirmed:    map[peer.ID]map[cid.Cid]bool{},
		dieOnConfirm: map[peer.ID]bool{},
		dead:         map[peer.ID]bool{},
	}
	for _, p := range dieOnConfirm {
		m.dieOnConfirm[p] = true
	}
	return m
}

func (m *memberStores) down(p peer.ID) error {
	if m.dead[p] {
		return fmt.Errorf("%w: %s: connection refused", xnode.ErrUnavailable, p)
	}
	return nil
}

func (m *memberStores) PutBlock(_ context.Context, p peer.ID, b block.Block, _ bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.down(p); err != nil {
		return err
	}
	if err := block.Verify(b.CID, b.Data); err != nil {
		return err
	}
	if m.held[p] == nil {
		m.held[p] = map[cid.Cid]block.Block{}
	}
	m.held[p][b.CID] = block.Block{CID: b.CID, Data: bytes.Clone(b.Data)}
	return nil
}

func (m *memberStores) GetBlock(_ context.Context, p peer.ID, c cid.Cid) (block.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.down(p); err != nil {
		return block.Block{}, err
	}
	b, ok := m.held[p][c]
	if !ok {
		return block.Block{}, fmt.Errorf("%w: %s", xnode.ErrNotFound, c)
	}
	return b, nil
}

func (m *memberStores) HasMany(_ context.Context, p peer.ID, cs []cid.Cid) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.down(p); err != nil {
		return nil, err
	}
	out := make([]bool, len(cs))
	for i, c := range cs {
		_, out[i] = m.held[p][c]
	}
	return out, nil
}

func (m *memberStores) Confirm(_ context.Context, p peer.ID, cs []cid.Cid) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dieOnConfirm[p] {
		m.dead[p] = true
	}
	if err := m.down(p); err != nil {
		return err
	}
	if m.confirmed[p] == nil {
		m.confirmed[p] = map[cid.Cid]bool{}
	}
	for _, c := range cs {
		if _, ok := m.held[p][c]; !ok {
			return fmt.Errorf("%w: confirm of %s, not held", xnode.ErrNotFound, c)
		}
		m.confirmed[p][c] = true
	}
	return nil
}

func (m *memberStores) Abandon(_ context.Context, p peer.ID, cs []cid.Cid) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.down(p); err != nil {
		return err
	}
	for _, c := range cs {
		if !m.confirmed[p][c] {
			delete(m.held[p], c)
		}
	}
	return nil
}

// confirmedOn lists the members on which c is durably confirmed: the other
// members, and self if its real store holds c and not tentatively.
func (m *memberStores) confirmedOn(t *testing.T, self peer.ID, local *storage.Store, c cid.Cid) []peer.ID {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var on []peer.ID
	for p, cs := range m.confirmed {
		if cs[c] && !m.dead[p] {
			on = append(on, p)
		}
	}
	ctx := context.Background()
	has, err := local.Has(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	tentative, err := local.Tentative(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if has && !tentative {
		on = append(on, self)
	}
	return on
}

// confirmPath builds the put and get paths of a node "self" whose store is
// real badger on disk and whose other members are stores in memory.
func confirmPath(t *testing.T, remote *memberStores, members ...peer.ID) (*blocks, *storage.Store) {
	t.Helper()
	local, err := storage.Open(storage.DefaultConfig(t.TempDir()), nil, tu.Logger("storage"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	infos := []memberInfo{{ID: "self", Capacity: 1 << 30}}
	for _, p := range members {
		infos = append(infos, memberInfo{ID: p, Capacity: 1 << 30})
	}
	bs := &blocks{
		self: "self", local: local, remote: remote,
		view:       func() view { return newView("self", 3, infos, time.Now(), -1) },
		minMembers: 1, chunkSize: block.MinChunkSize, inflight: 4,
		attemptTO: 5 * time.Second, hedge: time.Second,
		log: tu.Logger("blocks"), metrics: newMetrics(nil),
	}
	return bs, local
}

// TestPutReplacesHoldersThatDieBeforeConfirming: members store their copies
// and die before they can confirm them. The put is still acknowledged,
// every block is then confirmed on R=3 live members, and the blob reads
// back whole. With two of five dying, some blocks lose two copies at once.
func TestPutReplacesHoldersThatDieBeforeConfirming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []peer.ID // besides self
		die     []peer.ID
	}{
		{"one of 4", []peer.ID{"b", "c", "d"}, []peer.ID{"b"}},
		{"two of 5", []peer.ID{"b", "c", "d", "e"}, []peer.ID{"b", "c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := newMemberStores(tc.die...)
			bs, local := confirmPath(t, remote, tc.members...)
			data := make([]byte, 40*block.MinChunkSize+100)
			rand.Read(data)
			ctx := context.Background()

			res, err := bs.PutBlob(ctx, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("put with holders dying before their confirm: %v", err)
			}
			if res.Replicas != 3 {
				t.Fatalf("replicas %d, want 3", res.Replicas)
			}
			root, err := cid.Decode(res.CID)
			if err != nil {
				t.Fatal(err)
			}
			_, _, below, _, err := bs.dagBlocks(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			cids := append([]cid.Cid{root}, below...)
			remote.mu.Lock()
			lostCopies, both := 0, 0
			for _, c := range cids {
				n := 0
				for _, p := range tc.die {
					if _, ok := remote.held[p][c]; ok {
						n++
					}
				}
				lostCopies += n
				if n == 2 {
					both++
				}
			}
			remote.mu.Unlock()
			if lostCopies == 0 || (len(tc.die) == 2 && both == 0) {
				t.Fatalf("%d copies on dying members, %d blocks on both: the test did not exercise the replacement", lostCopies, both)
			}
			for _, c := range cids {
				on := remote.confirmedOn(t, "self", local, c)
				if len(on) != 3 {
					t.Errorf("block %s confirmed on %v, want 3 live members", c, on)
				}
			}
			if got := testutil.ToFloat64(bs.metrics.putReplaced); int(got) != lostCopies {
				t.Errorf("replaced-blocks metric %v, want %d (the dead members' copies)", got, lostCopies)
			}
			b, err := bs.OpenBlob(ctx, root)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := b.Range(ctx, 0, b.Size())
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			back, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(back, data) {
				t.Fatalf("read back %d bytes, err %v; want the %d put", len(back), err, len(data))
			}
		})
	}
}

// TestPutFailsWhenNoMemberCanReplaceHolder: with 3 members and R=3 there is
// no one to take over from a holder that dies before confirming, so the put
// is refused as UNAVAILABLE rather than acknowledged with 2 copies.
func TestPutFailsWhenNoMemberCanReplaceHolder(t *testing.T) {
	remote := newMemberStores("b")
	bs, _ := confirmPath(t, remote, "b", "c")
	data := make([]byte, 8*block.MinChunkSize)
	rand.Read(data)
	_, err := bs.PutBlob(context.Background(), bytes.NewReader(data))
	if !errors.Is(err, xnode.ErrUnavailable) {
		t.Fatalf("put: %v, want UNAVAILABLE", err)
	}
	if !strings.Contains(err.Error(), "could not be placed again") {
		t.Fatalf("put: %v, want it to say the copies could not be placed again", err)
	}
}

// TestFailedPutAbandonsOnlyUnclaimedCopies: a failed put deletes its local
// tentative copies, except those another put of this node in flight
// claims; that put's own failure then deletes them.
func TestFailedPutAbandonsOnlyUnclaimedCopies(t *testing.T) {
	ctx := context.Background()
	bs, local := confirmPath(t, newMemberStores())
	shared := block.NewRaw([]byte("placed by both puts"))
	own := block.NewRaw([]byte("placed by the first put only"))
	first := &putState{placed: map[peer.ID][]cid.Cid{}}
	second := &putState{placed: map[peer.ID][]cid.Cid{}}
	for _, b := range []block.Block{shared, own} {
		bs.claim(first, b.CID)
		if err := local.PutHashed(ctx, b, true); err != nil {
			t.Fatal(err)
		}
		first.record(b.CID, []peer.ID{"self"})
	}
	bs.claim(second, shared.CID)
	second.record(shared.CID, []peer.ID{"self"})

	bs.endPut(first, errors.New("the client went away"))
	has, _ := local.HasMany(ctx, []cid.Cid{shared.CID, own.CID})
	if !has[0] || has[1] {
		t.Fatalf("after the first put failed: has %v, want the shared copy kept and its own deleted", has)
	}
	bs.endPut(second, errors.New("this one failed too"))
	if ok, _ := local.Has(ctx, shared.CID); ok {
		t.Fatal("the shared copy outlived both failed puts")
	}
	if len(bs.claims) != 0 {
		t.Fatalf("claims left behind: %v", bs.claims)
	}
	// A put that succeeds abandons nothing, and leaves no claims.
	ok := &putState{placed: map[peer.ID][]cid.Cid{}}
	bs.claim(ok, own.CID)
	if err := local.PutHashed(ctx, own, true); err != nil {
		t.Fatal(err)
	}
	ok.record(own.CID, []peer.ID{"self"})
	bs.endPut(ok, nil)
	if held, _ := local.Has(ctx, own.CID); !held || len(bs.claims) != 0 {
		t.Fatalf("after a put that succeeded: held %v, claims %v", held, bs.claims)
	}
}

// TestConfirmReplacesLocalCopyAbandonedMeanwhile: when this node's own
// tentative copy is gone by the time it is confirmed (another member's
// failed put of the same bytes abandoned it), the block is placed on the
// next member instead, and the put still ends with R confirmed copies.
func TestConfirmReplacesLocalCopyAbandonedMeanwhile(t *testing.T) {
	ctx := context.Background()
	remote := newMemberStores()
	bs, local := confirmPath(t, remote, "a", "b", "c")
	v := bs.view()
	b := block.NewRaw([]byte("a block whose local copy is abandoned"))
	placed := map[peer.ID][]cid.Cid{}
	for _, p := range v.ranked(b.CID)[:3] {
		if err := bs.storeOn(ctx, p, b, true, true); err != nil {
			t.Fatal(err)
		}
		placed[p] = append(placed[p], b.CID)
	}
	if len(placed["self"]) == 0 {
		// Make self a holder whatever the ranking: the case under test.
		if err := local.PutHashed(ctx, b, true); err != nil {
			t.Fatal(err)
		}
		for p := range placed {
			delete(placed, p)
			break
		}
		placed["self"] = []cid.Cid{b.CID}
	}
	if n, err := local.Abandon(ctx, []cid.Cid{b.CID}); err != nil || n != 1 {
		t.Fatalf("abandon: %d %v", n, err)
	}
	if err := bs.confirm(ctx, v, placed); err != nil {
		t.Fatalf("confirm after the local copy went: %v", err)
	}
	if on := remote.confirmedOn(t, "self", local, b.CID); len(on) != 3 || slices.Contains(on, "self") {
		t.Fatalf("confirmed on %v, want 3 other members", on)
	}
}
