package overlay

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/storage"
)

// FuzzImportCAR: a CAR comes from a user (xnode import, POST /v1/car) and
// is read block by block while its blocks are placed. Whatever the bytes,
// the import never panics; it is refused with ErrBadCAR, or it is accepted
// only if every root and every block a node links to was in it and is now
// held, each block matching its CID. The path is the real one: a real local
// store, and members in memory.
func FuzzImportCAR(f *testing.F) {
	seedRoot, seedBlocks := dagOf(f, rnd(3*block.MinChunkSize+5, 7))
	good := writeCAR(f, []cid.Cid{seedRoot}, seedBlocks)
	leaf := block.NewRaw([]byte("one chunk"))
	f.Add(good)
	f.Add(writeCAR(f, []cid.Cid{leaf.CID}, []block.Block{leaf}))
	f.Add(writeCAR(f, []cid.Cid{leaf.CID, seedRoot}, append([]block.Block{leaf}, seedBlocks...)))
	f.Add(good[:len(good)-10])
	f.Add(writeCAR(f, nil, seedBlocks))
	f.Add([]byte("not a CAR"))
	// One local store and one set of members for all runs (a store per run
	// would leave a few runs a second); a refused CAR must leave the count
	// of local blocks as it found it.
	remote := newMemberStores()
	local, err := storage.Open(storage.DefaultConfig(f.TempDir()), nil, tu.Logger("storage"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { local.Close() })
	infos := []memberInfo{{ID: "self", Capacity: 1 << 30}}
	for _, p := range []peer.ID{"b", "c", "d"} {
		infos = append(infos, memberInfo{ID: p, Capacity: 1 << 30})
	}
	bs := &blocks{
		self: "self", local: local, remote: remote,
		view:       func() view { return newView("self", 3, infos, time.Now(), -1) },
		minMembers: 1, chunkSize: block.MinChunkSize, inflight: 4,
		attemptTO: 5 * time.Second, hedge: time.Second,
		log: slog.New(slog.DiscardHandler), metrics: newMetrics(nil),
	}
	if _, err := bs.ImportCAR(context.Background(), bytes.NewReader(good)); err != nil {
		f.Fatalf("the seed CAR is refused: %v", err)
	}
	f.Fuzz(func(t *testing.T, car []byte) {
		before := local.Usage().Blocks
		res, err := bs.ImportCAR(context.Background(), bytes.NewReader(car))
		bs.wg.Wait() // the abandons of a refused import
		if err != nil {
			if !errors.Is(err, ErrBadCAR) {
				t.Fatalf("refused with an error that is not ErrBadCAR: %v", err)
			}
			if u := local.Usage(); u.Blocks != before {
				t.Fatalf("a refused CAR changed this node's blocks from %d to %d", before, u.Blocks)
			}
			return
		}
		held := func(c cid.Cid) bool {
			if b, err := local.Get(context.Background(), c); err == nil {
				return block.Verify(c, b.Data) == nil
			}
			remote.mu.Lock()
			defer remote.mu.Unlock()
			for _, m := range remote.held {
				if b, ok := m[c]; ok && block.Verify(c, b.Data) == nil {
					return true
				}
			}
			return false
		}
		for _, s := range res.Roots {
			c, err := block.Parse(s)
			if err != nil {
				t.Fatalf("accepted root %q: %v", s, err)
			}
			if !held(c) {
				t.Fatalf("accepted root %s is held nowhere", c)
			}
			if !block.IsManifest(c) {
				continue
			}
			b, err := local.Get(context.Background(), c)
			if err != nil {
				continue // held by a member only
			}
			nd, err := block.DecodeNode(b)
			if err != nil {
				t.Fatalf("accepted root %s does not decode: %v", c, err)
			}
			for _, l := range nd.Links {
				if !held(l.CID) {
					t.Fatalf("accepted root %s links to %s, held nowhere", c, l.CID)
				}
			}
		}
	})
}
