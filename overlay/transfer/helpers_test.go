package transfer

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
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/testutil"
)

// memStore is the in-memory stand-in for storage.Store. Like the real store
// it verifies on Put (unless trusting, which benchmarks set so that they
// time the protocol and not the neighbour), and puts counts every Put call,
// so a test can tell that bad bytes never reached it at all.
type memStore struct {
	trusting bool

	mu        sync.Mutex
	blocks    map[cid.Cid][]byte
	tentative map[cid.Cid]bool
	puts      int

	// gate, when set for a CID, holds Get and Put of that CID until the
	// channel is closed or the context ends; entered hears each arrival.
	gate    map[cid.Cid]chan struct{}
	entered chan cid.Cid
}

func newMemStore() *memStore {
	return &memStore{
		blocks:    make(map[cid.Cid][]byte),
		tentative: make(map[cid.Cid]bool),
		gate:      make(map[cid.Cid]chan struct{}),
		entered:   make(chan cid.Cid, 64),
	}
}

func (m *memStore) hold(c cid.Cid) (release func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.gate[c] = ch
	m.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (m *memStore) wait(ctx context.Context, c cid.Cid) error {
	m.mu.Lock()
	ch := m.gate[c]
	m.mu.Unlock()
	if ch == nil {
		return nil
	}
	m.entered <- c
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PutHashed is Put: the fake verifies unless trusting, which lets the tests
// prove the protocol verifies on its own.
func (m *memStore) PutHashed(ctx context.Context, b block.Block, tentative bool) error {
	return m.Put(ctx, b, tentative)
}

func (m *memStore) Put(ctx context.Context, b block.Block, tentative bool) error {
	if err := m.wait(ctx, b.CID); err != nil {
		return err
	}
	m.mu.Lock()
	m.puts++
	m.mu.Unlock()
	if !m.trusting {
		if err := block.Verify(b.CID, b.Data); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blocks[b.CID] = bytes.Clone(b.Data) // the server reuses b.Data, as a real store allows
	m.tentative[b.CID] = tentative
	return nil
}

func (m *memStore) Get(ctx context.Context, c cid.Cid) (block.Block, error) {
	if err := m.wait(ctx, c); err != nil {
		return block.Block{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.blocks[c]
	if !ok {
		return block.Block{}, fmt.Errorf("memstore: %s %w", c, xnode.ErrNotFound)
	}
	return block.Block{CID: c, Data: d}, nil
}

func (m *memStore) HasMany(_ context.Context, cs []cid.Cid) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]bool, len(cs))
	for i, c := range cs {
		_, out[i] = m.blocks[c]
	}
	return out, nil
}

func (m *memStore) Confirm(_ context.Context, cs []cid.Cid) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		if _, ok := m.blocks[c]; !ok {
			return fmt.Errorf("memstore: confirm %s: %w", c, xnode.ErrNotFound)
		}
		m.tentative[c] = false
	}
	return nil
}

func (m *memStore) Abandon(_ context.Context, cs []cid.Cid) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range cs {
		if _, ok := m.blocks[c]; ok && m.tentative[c] {
			delete(m.blocks, c)
			delete(m.tentative, c)
			n++
		}
	}
	return n, nil
}

func (m *memStore) has(c cid.Cid) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.blocks[c]
	return ok
}

func (m *memStore) isTentative(c cid.Cid) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tentative[c]
}

func (m *memStore) putCalls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts
}

var _ LocalStore = (*memStore)(nil)

// node is one libp2p host with a transfer service over a memStore.
type node struct {
	h     host.Host
	store *memStore
	svc   *Service
}

func newHost(tb testing.TB, opts ...libp2p.Option) host.Host {
	tb.Helper()
	opts = append([]libp2p.Option{
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.DisableMetrics(),
		libp2p.DisableRelay(),
	}, opts...)
	h, err := libp2p.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	return h
}

func newNode(tb testing.TB, cfg Config, opts ...libp2p.Option) *node {
	tb.Helper()
	h := newHost(tb, opts...)
	store := newMemStore()
	svc, err := New(cfg, h, store, prometheus.NewRegistry(), testutil.Logger(h.ID().ShortString()))
	if err != nil {
		tb.Fatal(err)
	}
	if err := svc.Start(tb.Context()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	return &node{h: h, store: store, svc: svc}
}

func connect(tb testing.TB, a, b host.Host) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		tb.Fatal(err)
	}
}

func randomBlock(tb testing.TB, n int) block.Block {
	tb.Helper()
	data := make([]byte, n)
	rand.Read(data)
	return block.NewRaw(data)
}

func rejected(s *Service, reason string) float64 {
	return promtest.ToFloat64(s.m.rejected.WithLabelValues(reason))
}

// rawExchange opens a protocol stream from h to p as a hostile client would,
// writes raw bytes, half-closes if asked, and reads whatever comes back.
func rawExchange(tb testing.TB, h host.Host, p peer.ID, raw []byte, closeWrite bool) ([]byte, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	_ = st.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := st.Write(raw); err != nil {
		return nil, err
	}
	if closeWrite {
		if err := st.CloseWrite(); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(st)
}

// rawRequest sends one well-framed payload and decodes the answer frame.
func rawRequest(tb testing.TB, h host.Host, p peer.ID, payload ...[]byte) (status byte, body []byte) {
	tb.Helper()
	var frame []byte
	for _, part := range payload {
		frame = append(frame, part...)
	}
	frame = append(frameHeader(len(frame)), frame...)
	out, err := rawExchange(tb, h, p, frame, true)
	if err != nil {
		tb.Fatalf("raw request: %v", err)
	}
	d := decoder{buf: out}
	n := d.uvarint("length", 1<<30)
	if d.err != nil || n == 0 || uint64(len(d.buf)) != n {
		tb.Fatalf("answer is not one frame: %x", out)
	}
	return d.buf[0], d.buf[1:]
}
