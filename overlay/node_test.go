package overlay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/dht"
	"github.com/xnode/xnode/gossip"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/overlay"
	"github.com/xnode/xnode/storage"
)

// testClock is a clock a test moves forward.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// singleNode starts a one-node dev network on free loopback ports.
func singleNode(t testing.TB, mutate func(*overlay.Config)) (*overlay.Node, *api.Client, *testClock) {
	t.Helper()
	home := overlay.Home(t.TempDir())
	cfg := overlay.DefaultConfig()
	cfg.Moniker = "n0"
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Consensus.P2PListen = fmt.Sprintf("127.0.0.1:%d", tu.FreePort(t))
	cfg.Consensus.RPCListen = ""
	cfg.Consensus.TimeoutCommit = overlay.Duration(200 * time.Millisecond)
	if mutate != nil {
		mutate(&cfg)
	}
	if err := overlay.Init(home, overlay.InitOptions{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	gcfg := gossip.LocalTestConfig()
	dcfg := dht.DefaultLocalConfig()
	clock := &testClock{}
	n, err := overlay.New(overlay.Options{Home: home, Config: cfg, Logger: tu.Logger("n0"), Tuning: &overlay.Tuning{
		Gossip: &gcfg, DHT: &dcfg, VerifyInterval: 200 * time.Millisecond, StorageNow: clock.Now,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	c, err := api.NewClient(n.APIURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 30*time.Second, func() bool {
		_, ok, _ := c.Ready(context.Background())
		return ok
	}, "node ready")
	return n, c, clock
}

func singleNodeB(b *testing.B) (*overlay.Node, *api.Client, *testClock) {
	return singleNode(b, nil)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestSingleNodePutGetRange(t *testing.T) {
	_, c, _ := singleNode(t, nil)
	ctx := context.Background()
	data := randomBytes(3<<20 + 12345)
	res, err := c.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if res.Size != uint64(len(data)) || res.Chunks != 4 || res.Replicas != 1 {
		t.Fatalf("put result %+v", res)
	}
	var got bytes.Buffer
	if _, err := c.Get(ctx, res.CID, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("get returned different bytes")
	}
	// A range that crosses a chunk boundary.
	got.Reset()
	off, n := int64(1<<20-100), int64(300)
	if _, err := c.GetRange(ctx, res.CID, off, n, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data[off:off+n]) {
		t.Fatal("range returned the wrong slice")
	}
	// The root is the UnixFS file IPFS makes of the same bytes.
	ch, _ := block.NewChunker(bytes.NewReader(data), block.DefaultChunkSize)
	want, err := block.Import(ch, func(block.Block) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.CID != want.Root.CID.String() {
		t.Fatalf("root %s, the UnixFS importer makes %s", res.CID, want.Root.CID)
	}
	// The empty blob is the empty raw block, as in IPFS, and reads back.
	empty, err := c.Put(ctx, bytes.NewReader(nil))
	if err != nil {
		t.Fatal(err)
	}
	if empty.CID != "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku" {
		t.Fatalf("empty blob root %s", empty.CID)
	}
	got.Reset()
	if n, err := c.Get(ctx, empty.CID, &got); err != nil || n != 0 || got.Len() != 0 {
		t.Fatalf("get of the empty blob: %d bytes, %v", n, err)
	}
}

func TestSingleNodeBadInput(t *testing.T) {
	n, c, clock := singleNode(t, func(cfg *overlay.Config) { cfg.API.MaxBodyBytes = 3 << 20 })
	ctx := context.Background()
	usage := func() storage.Usage { return n.Store().Usage() }

	// A malformed CID is INVALID_ARGUMENT; a well-formed unknown one NOT_FOUND.
	_, err := c.Get(ctx, "not-a-cid", io.Discard)
	if !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("malformed CID: %v", err)
	}
	unknown := block.Sum(block.CodecManifest, []byte("nobody stored this")).String()
	if _, err := c.Get(ctx, unknown, io.Discard); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("unknown CID: %v", err)
	}

	// A body over the limit with a declared length is refused before anything is stored.
	if _, err := c.PutSize(ctx, bytes.NewReader(randomBytes(4<<20)), 4<<20); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("oversized put: %v", err)
	}
	if u := usage(); u.Blocks != 0 {
		t.Fatalf("oversized put stored %d blocks", u.Blocks)
	}
	// Streamed without a length, the limit trips mid-body, after chunks
	// were written: 413, and by then the failed put has deleted its
	// tentative copies, so nothing stays stored.
	if _, err := c.Put(ctx, io.MultiReader(bytes.NewReader(randomBytes(5<<20)))); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("oversized streamed put: %v", err)
	}
	abandoned := metricValue(t, n, "xnode_blobs_put_abandoned_blocks_total")
	if u := usage(); u.Blocks != 0 || abandoned < 1 {
		t.Fatalf("oversized streamed put: %d blocks stored after the 413, %v abandoned", u.Blocks, abandoned)
	}
	// A client that disconnects mid-upload, after its first chunks: no root
	// is acknowledged, and its copies go the same way. (The importer places
	// the first chunk once it has read the second: a blob of one chunk is
	// its own root.)
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.APIURL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/blobs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 3<<20)
	conn.Write(randomBytes(2<<20 + 10))
	tu.Eventually(t, 10*time.Second, func() bool { return usage().Blocks >= 1 }, "the first chunk of the upload reached the store")
	conn.Close()
	// Each chunk placed before the disconnect is abandoned as its own
	// placement ends, so on a busy machine the second may go a moment after
	// the first.
	tu.Eventually(t, 10*time.Second, func() bool {
		return metricValue(t, n, "xnode_blobs_put_abandoned_blocks_total") > abandoned && usage().Blocks == 0
	}, "the aborted upload's chunks were abandoned and none stays stored")
	var roots int
	n.Store().ForEach(ctx, func(c2 cidT, _ int) error {
		if block.IsManifest(c2) {
			roots++
		}
		return nil
	})
	if roots != 0 {
		t.Fatalf("an aborted upload left %d roots", roots)
	}
	clock.Advance(2 * time.Hour)
	if _, err := n.Store().GC(ctx); err != nil {
		t.Fatal(err)
	}
	if u := usage(); u.Blocks != 0 {
		t.Fatalf("GC left %d orphan blocks", u.Blocks)
	}
	clock.Advance(-2 * time.Hour)

	// A block corrupted on disk: get fails with an integrity error, wrong
	// bytes are never served, and the integrity metric increases.
	data := randomBytes(2<<20 + 7)
	res, err := c.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := c.Locate(ctx, res.CID)
	if err != nil || len(loc.Blocks) != 3 {
		t.Fatalf("locate: %+v %v", loc, err)
	}
	root, _ := block.Parse(res.CID)
	if mb, err := n.Store().Get(ctx, root); err != nil || loc.BlockSize != len(mb.Data) || loc.Size != uint64(len(data)) {
		t.Fatalf("locate: root block %d bytes and blob %d, want the manifest's %d and %d (%v)", loc.BlockSize, loc.Size, len(mb.Data), len(data), err)
	}
	// A well-formed CID no member holds is located too: its owners are
	// where it would be placed, and none has it.
	nowhere := block.NewRaw([]byte("held by no member")).CID
	if nl, err := c.Locate(ctx, nowhere.String()); err != nil || nl.CID != nowhere.String() || len(nl.Owners) != 1 || nl.Owners[0].Has || nl.Size != 0 || len(nl.Blocks) != 0 {
		t.Fatalf("locate of an unknown CID: %+v %v", nl, err)
	}
	victim, _ := block.Parse(loc.Blocks[1].CID)
	flipByte(t, n.Store(), victim)
	before := metricValue(t, n, "xnode_storage_integrity_failures_total")
	var got bytes.Buffer
	_, err = c.Get(ctx, res.CID, &got)
	if err == nil {
		t.Fatal("get of a corrupt blob succeeded")
	}
	// Whatever reached the client is a true prefix, and stops before the bad chunk.
	if got.Len() > 1<<20 || !bytes.Equal(got.Bytes(), data[:got.Len()]) {
		t.Fatalf("served %d bytes that are not a prefix ending before the corrupt chunk", got.Len())
	}
	if after := metricValue(t, n, "xnode_storage_integrity_failures_total"); after <= before {
		t.Fatalf("integrity metric %v → %v", before, after)
	}
	// The node keeps serving.
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, bytes.NewReader([]byte("still here"))); err != nil {
		t.Fatal(err)
	}
}

// flipByte inverts a byte in the middle of c's bytes in the store's file on
// disk, as a disk fault would.
func flipByte(t *testing.T, s *storage.Store, c cidT) {
	t.Helper()
	path, off, n, err := s.Locate(context.Background(), c)
	if err != nil {
		t.Fatalf("flip a byte of %s: %v", c, err)
	}
	tu.FlipByteAt(t, path, off+int64(n/2))
}

func metricValue(t *testing.T, n *overlay.Node, name string) float64 {
	t.Helper()
	mfs, err := n.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			}
			if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
		return sum
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

type cidT = cid.Cid
