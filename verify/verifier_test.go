package verify

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
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

func storeBlob(t *testing.T, s *memBlocks, data []byte) (cid.Cid, block.Manifest) {
	t.Helper()
	ch, err := block.NewChunker(bytes.NewReader(data), block.MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	var m block.Manifest
	for {
		b, err := ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Add(b)
		s.m[b.CID] = b.Data
	}
	root, err := m.Block()
	if err != nil {
		t.Fatal(err)
	}
	s.m[root.CID] = root.Data
	return root.CID, m
}

func TestCheck(t *testing.T) {
	src := &memBlocks{m: map[cid.Cid][]byte{}}
	data := make([]byte, 5000)
	rand.Read(data)
	root, m := storeBlob(t, src, data)
	ctx := context.Background()

	if v := Check(ctx, src, RecordRef{CID: root, Size: 5000}); !v.OK {
		t.Fatalf("intact blob: %+v", v)
	}
	if v := Check(ctx, src, RecordRef{CID: root, Size: 4999}); v.OK || v.Retry {
		t.Fatalf("wrong size accepted: %+v", v)
	}
	// A source that hands back wrong bytes is caught by the verifier's own hash.
	good := src.m[m.Chunks[1].CID]
	src.m[m.Chunks[1].CID] = append([]byte{good[0] ^ 1}, good[1:]...)
	if v := Check(ctx, src, RecordRef{CID: root, Size: 5000}); v.OK || v.Retry {
		t.Fatalf("corrupt chunk accepted: %+v", v)
	}
	src.m[m.Chunks[1].CID] = good
	delete(src.m, m.Chunks[2].CID)
	if v := Check(ctx, src, RecordRef{CID: root, Size: 5000}); v.OK || !v.Retry || !v.NotFound {
		t.Fatalf("missing chunk: %+v", v)
	}
	if v := Check(ctx, src, RecordRef{CID: m.Chunks[0].CID, Size: 1024}); v.OK {
		t.Fatalf("a chunk CID is not a blob root: %+v", v)
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
