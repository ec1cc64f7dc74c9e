package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/testutil"
)

// memBlocks is a block source over a map; missing and failing simulate the network.
type memBlocks struct {
	mu      sync.Mutex
	m       map[cid.Cid][]byte
	failing bool
}

func (s *memBlocks) FetchBlock(ctx context.Context, c cid.Cid) (block.Block, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing {
		return block.Block{}, fmt.Errorf("no owner answered: %w", xnode.ErrUnavailable)
	}
	d, ok := s.m[c]
	if !ok {
		return block.Block{}, fmt.Errorf("block %s: %w", c, xnode.ErrNotFound)
	}
	return block.Block{CID: c, Data: d}, nil
}

// storeBlob imports data as a UnixFS file of MinChunkSize chunks into s and
// returns its root and its leaves in order.
func storeBlob(t *testing.T, s *memBlocks, data []byte) (cid.Cid, []cid.Cid) {
	t.Helper()
	ch, err := block.NewChunker(bytes.NewReader(data), block.MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []cid.Cid
	res, err := block.Import(ch, func(b block.Block) error {
		if !block.IsManifest(b.CID) {
			leaves = append(leaves, b.CID)
		}
		s.m[b.CID] = append([]byte(nil), b.Data...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Root.CID, leaves
}

func TestCheck(t *testing.T) {
	src := &memBlocks{m: map[cid.Cid][]byte{}}
	size := (block.MaxLinks+3)*block.MinChunkSize + 5 // two levels of nodes
	data := make([]byte, size)
	rand.Read(data)
	root, leaves := storeBlob(t, src, data)
	ctx := context.Background()

	if v := Check(ctx, src, RecordRef{CID: root, Size: uint64(size)}); !v.OK {
		t.Fatalf("intact blob: %+v", v)
	}
	if v := Check(ctx, src, RecordRef{CID: root, Size: uint64(size) - 1}); v.OK || v.Retry {
		t.Fatalf("wrong size accepted: %+v", v)
	}
	// A source that hands back wrong bytes is caught by the verifier's own
	// hash, in the first level and past the intermediate node.
	for _, i := range []int{1, block.MaxLinks + 1} {
		good := src.m[leaves[i]]
		src.m[leaves[i]] = append([]byte{good[0] ^ 1}, good[1:]...)
		if v := Check(ctx, src, RecordRef{CID: root, Size: uint64(size)}); v.OK || v.Retry {
			t.Fatalf("corrupt chunk %d accepted: %+v", i, v)
		}
		src.m[leaves[i]] = good
	}
	gone := src.m[leaves[len(leaves)-1]]
	delete(src.m, leaves[len(leaves)-1])
	if v := Check(ctx, src, RecordRef{CID: root, Size: uint64(size)}); v.OK || !v.Retry || !v.NotFound {
		t.Fatalf("missing chunk: %+v", v)
	}
	src.m[leaves[len(leaves)-1]] = gone
	// A chunk is a file of its own, of its own size.
	if v := Check(ctx, src, RecordRef{CID: leaves[0], Size: block.MinChunkSize}); !v.OK {
		t.Fatalf("a chunk as a file: %+v", v)
	}
	// A block that is not a UnixFS file is a mismatch, not a retry.
	junk := block.Sum(block.CodecNode, []byte("not dag-pb"))
	src.m[junk] = []byte("not dag-pb")
	if v := Check(ctx, src, RecordRef{CID: junk, Size: 10}); v.OK || v.Retry {
		t.Fatalf("a junk root: %+v", v)
	}
}

type attestation struct {
	ref    RecordRef
	ok     bool
	reason string
}

// memChain lists pending records until they are attested.
type memChain struct {
	mu       sync.Mutex
	pending  []RecordRef
	attested chan attestation
}

func (c *memChain) Pending(ctx context.Context) ([]RecordRef, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]RecordRef(nil), c.pending...), nil
}

func (c *memChain) Attest(ctx context.Context, ref RecordRef, ok bool, reason string) error {
	c.mu.Lock()
	for i, p := range c.pending {
		if p.id() == ref.id() {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	c.attested <- attestation{ref, ok, reason}
	return nil
}

func TestVerifierAttests(t *testing.T) {
	src := &memBlocks{m: map[cid.Cid][]byte{}}
	data := make([]byte, 3000)
	rand.Read(data)
	root, _ := storeBlob(t, src, data)
	missing := block.Sum(block.CodecManifest, []byte("never stored"))
	chain := &memChain{attested: make(chan attestation, 8), pending: []RecordRef{
		{Namespace: "demo", Key: "good", Version: 1, CID: root, Size: 3000},
		{Namespace: "demo", Key: "short", Version: 1, CID: root, Size: 10},
		{Namespace: "demo", Key: "missing", Version: 1, CID: missing, Size: 10},
	}}
	heights := make(chan int64, 1)
	cfg := DefaultConfig()
	cfg.Interval = 20 * time.Millisecond
	v, err := NewVerifier(cfg, chain, src, heights, nil, testutil.Logger("verifier"))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	got := map[string]attestation{}
	timeout := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case a := <-chain.attested:
			if _, dup := got[a.ref.Key]; dup {
				t.Fatalf("attested %s twice", a.ref.Key)
			}
			got[a.ref.Key] = a
		case <-timeout:
			t.Fatalf("only %d attestations: %+v", len(got), got)
		}
	}
	if !got["good"].ok || got["short"].ok || got["missing"].ok {
		t.Fatalf("verdicts: %+v", got)
	}
}

func TestVerifierNeverAttestsOnTransientFailure(t *testing.T) {
	src := &memBlocks{m: map[cid.Cid][]byte{}, failing: true}
	root := block.Sum(block.CodecManifest, []byte("x"))
	chain := &memChain{attested: make(chan attestation, 1), pending: []RecordRef{{Namespace: "d", Key: "k", Version: 1, CID: root, Size: 1}}}
	cfg := DefaultConfig()
	cfg.Interval = 5 * time.Millisecond
	v, err := NewVerifier(cfg, chain, src, nil, nil, testutil.Logger("verifier"))
	if err != nil {
		t.Fatal(err)
	}
	v.Start(context.Background())
	// Many intervals pass; the record must stay unattested.
	select {
	case a := <-chain.attested:
		t.Fatalf("attested during an outage: %+v", a)
	case <-time.After(300 * time.Millisecond):
	}
	v.Close()
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	c.Concurrency = 0
	if err := c.Validate(); err == nil {
		t.Fatal("zero concurrency accepted")
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
