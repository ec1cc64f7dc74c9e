package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// fakeNode is an in-memory Node. It streams uploads (reading the body as it
// comes and recording what the read ended with) and can be told to fail,
// block or panic where a test needs it.
type fakeNode struct {
	mu         sync.Mutex
	blobs      map[string][]byte
	corruptAt  map[string]int // cid → offset where reads fail with an integrity error
	putCalls   int
	putErrs    []error // what each failed PutBlob saw
	putRead    int64   // bytes read by the current PutBlob so far
	namespaces map[string]bool
	records    map[string]Record
	height     int64

	status  Status
	members []Member
	checks  []Check

	// errs makes a method (by name) return this error.
	errs map[string]error
	// gate, when set, makes Status signal entered and wait for gate or ctx.
	gate    chan struct{}
	entered chan struct{}
	// waitForCtx makes Locate block until its context ends.
	waitForCtx bool
	// panicIn names a method that panics.
	panicIn string
	// dag holds the blocks of files added with addFile, for the gateway.
	dag map[cid.Cid][]byte
}

func newFakeNode() *fakeNode {
	return &fakeNode{
		blobs:      make(map[string][]byte),
		dag:        make(map[cid.Cid][]byte),
		corruptAt:  make(map[string]int),
		namespaces: make(map[string]bool),
		records:    make(map[string]Record),
		errs:       make(map[string]error),
		status: Status{
			PeerID:  "12D3KooWFake",
			Addrs:   []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWFake"},
			API:     "127.0.0.1:8080",
			ChainID: "xnode-test",
			Height:  42,
			Members: 3,
			Storage: StorageUsage{Blocks: 7, Bytes: 7 << 20},
			Version: "test",
		},
		members: []Member{{
			PeerID: "12D3KooWFake", State: "alive", Addrs: []string{"/ip4/127.0.0.1/tcp/4001"},
			API: "127.0.0.1:8080", Capacity: 1 << 40, Used: 1 << 20,
			LastSeen: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Phi: 0.5, Self: true,
		}},
		checks: []Check{{Name: "host", OK: true}, {Name: "membership", OK: true}},
	}
}

func (f *fakeNode) fail(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panicIn == method {
		panic("fake node: " + method + " blew up")
	}
	return f.errs[method]
}

func (f *fakeNode) Status(ctx context.Context) (Status, error) {
	if err := f.fail("Status"); err != nil {
		return Status{}, err
	}
	if f.gate != nil {
		f.entered <- struct{}{}
		select {
		case <-f.gate:
		case <-ctx.Done():
			return Status{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeNode) Ready(ctx context.Context) []Check {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Check(nil), f.checks...)
}

func (f *fakeNode) Members(ctx context.Context) ([]Member, error) {
	if err := f.fail("Members"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Member(nil), f.members...), nil
}

func (f *fakeNode) PutBlob(ctx context.Context, r io.Reader) (PutResult, error) {
	f.mu.Lock()
	f.putCalls++
	f.putRead = 0
	f.mu.Unlock()
	if err := f.fail("PutBlob"); err != nil {
		return PutResult{}, err
	}
	var data bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		data.Write(buf[:n])
		f.mu.Lock()
		f.putRead += int64(n)
		f.mu.Unlock()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.mu.Lock()
			f.putErrs = append(f.putErrs, err)
			f.mu.Unlock()
			return PutResult{}, fmt.Errorf("fake: read blob: %w", err)
		}
	}
	c := block.Sum(block.CodecManifest, data.Bytes())
	f.mu.Lock()
	f.blobs[c.String()] = data.Bytes()
	f.mu.Unlock()
	return PutResult{CID: c.String(), Size: uint64(data.Len()), Chunks: 1 + data.Len()>>20, Replicas: 1}, nil
}

func (f *fakeNode) storedBlobs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.blobs)
}

func (f *fakeNode) putState() (calls int, errs []error, read int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.putCalls, append([]error(nil), f.putErrs...), f.putRead
}

// addBlob stores data directly and returns its CID.
func (f *fakeNode) addBlob(data []byte) string {
	c := block.Sum(block.CodecManifest, data).String()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[c] = data
	return c
}

func (f *fakeNode) OpenBlob(ctx context.Context, c cid.Cid) (Blob, error) {
	if err := f.fail("OpenBlob"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.blobs[c.String()]
	if !ok {
		return nil, fmt.Errorf("fake: blob %s: %w", c, xnode.ErrNotFound)
	}
	bad, corrupt := f.corruptAt[c.String()]
	if !corrupt {
		bad = -1
	}
	return &fakeBlob{data: data, corruptAt: bad}, nil
}

type fakeBlob struct {
	data      []byte
	corruptAt int
}

func (b *fakeBlob) Size() uint64 { return uint64(len(b.data)) }

func (b *fakeBlob) Range(ctx context.Context, off, n uint64) (io.ReadCloser, error) {
	if off+n > uint64(len(b.data)) {
		return nil, fmt.Errorf("fake: range %d+%d past %d: %w", off, n, len(b.data), xnode.ErrInvalidArgument)
	}
	var r io.Reader = bytes.NewReader(b.data[off : off+n])
	if b.corruptAt >= 0 && uint64(b.corruptAt) < off+n {
		good := max(0, int64(b.corruptAt)-int64(off))
		r = io.MultiReader(io.LimitReader(r, good), errReader{fmt.Errorf("fake: block at %d: %w", b.corruptAt, block.ErrMismatch)})
	}
	return io.NopCloser(r), nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (f *fakeNode) Locate(ctx context.Context, c cid.Cid) (Location, error) {
	if err := f.fail("Locate"); err != nil {
		return Location{}, err
	}
	if f.waitForCtx {
		<-ctx.Done()
		return Location{}, fmt.Errorf("fake: locate: %w", ctx.Err())
	}
	f.mu.Lock()
	_, has := f.blobs[c.String()]
	f.mu.Unlock()
	return Location{CID: c.String(), Owners: []Owner{
		{Peer: "12D3KooWFake", Rank: 0, Has: has},
		{Peer: "12D3KooWOther", Rank: 1, Has: false, State: "suspect"},
	}}, nil
}

func (f *fakeNode) RegisterNamespace(ctx context.Context, name string) (TxResult, error) {
	if err := f.fail("RegisterNamespace"); err != nil {
		return TxResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.namespaces[name] {
		return TxResult{}, fmt.Errorf("fake: namespace %q taken: %w", name, xnode.ErrConflict)
	}
	f.namespaces[name] = true
	f.height++
	return TxResult{Height: f.height, Tx: fmt.Sprintf("TX%d", f.height)}, nil
}

func (f *fakeNode) SubmitRecord(ctx context.Context, ns, key string, c cid.Cid) (TxResult, error) {
	if err := f.fail("SubmitRecord"); err != nil {
		return TxResult{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.namespaces[ns] {
		return TxResult{}, fmt.Errorf("fake: namespace %q: %w", ns, xnode.ErrNotFound)
	}
	f.height++
	f.records[ns+"/"+key] = Record{Namespace: ns, Key: key, CID: c.String(), Size: 5, Version: 1, Height: f.height, Status: "pending"}
	return TxResult{Height: f.height, Tx: fmt.Sprintf("TX%d", f.height)}, nil
}

func (f *fakeNode) Record(ctx context.Context, ns, key string) (Record, error) {
	if err := f.fail("Record"); err != nil {
		return Record{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	rec, ok := f.records[ns+"/"+key]
	if !ok {
		return Record{}, fmt.Errorf("fake: record %s/%s: %w", ns, key, xnode.ErrNotFound)
	}
	return rec, nil
}

var _ Node = (*fakeNode)(nil)

// noopRegisterer accepts and drops every collector.
type noopRegisterer struct{}

func (noopRegisterer) Register(prometheus.Collector) error  { return nil }
func (noopRegisterer) MustRegister(...prometheus.Collector) {}
func (noopRegisterer) Unregister(prometheus.Collector) bool { return true }

// addFile stores data as a UnixFS file of small chunks (its blocks for the
// gateway, its bytes as a blob) and returns its root.
func (f *fakeNode) addFile(data []byte, chunk int) cid.Cid {
	ch, err := block.NewChunker(bytes.NewReader(data), chunk)
	if err != nil {
		panic(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res, err := block.Import(ch, func(b block.Block) error {
		f.dag[b.CID] = append([]byte(nil), b.Data...)
		return nil
	})
	if err != nil {
		panic(err)
	}
	f.blobs[res.Root.CID.String()] = data
	return res.Root.CID
}

func (f *fakeNode) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	if err := f.fail("GetBlock"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.dag[c]
	if !ok {
		return nil, fmt.Errorf("fake: block %s: %w", c, xnode.ErrNotFound)
	}
	return data, nil
}

// ImportCAR stores every block of the CAR, each checked, and answers with
// its roots; any fault is INVALID_ARGUMENT and stores nothing.
func (f *fakeNode) ImportCAR(ctx context.Context, r io.Reader) (ImportResult, error) {
	if err := f.fail("ImportCAR"); err != nil {
		return ImportResult{}, err
	}
	br, err := carv2.NewBlockReader(r)
	if err != nil {
		return ImportResult{}, fmt.Errorf("fake: %w: %v", xnode.ErrInvalidArgument, err)
	}
	got := map[cid.Cid][]byte{}
	var res ImportResult
	for {
		b, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return ImportResult{}, fmt.Errorf("fake: %w: %v", xnode.ErrInvalidArgument, err)
		}
		got[b.Cid()] = b.RawData()
		res.Bytes += uint64(len(b.RawData()))
	}
	for _, root := range br.Roots {
		if _, ok := got[root]; !ok {
			return ImportResult{}, fmt.Errorf("fake: %w: root %s missing", xnode.ErrInvalidArgument, root)
		}
		res.Roots = append(res.Roots, root.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for c, d := range got {
		f.dag[c] = d
	}
	res.Blocks, res.Replicas = len(got), 1
	return res, nil
}
