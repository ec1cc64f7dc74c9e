package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/testutil"
)

func TestRoundTrips(t *testing.T) {
	a, b := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	ctx := t.Context()

	blocks := []block.Block{
		block.NewRaw(nil), // the empty block
		randomBlock(t, 1),
		randomBlock(t, 100_000),
		randomBlock(t, block.MaxChunkSize),
	}
	cs := make([]cid.Cid, len(blocks))
	for i, blk := range blocks {
		cs[i] = blk.CID
	}
	missing := randomBlock(t, 10).CID

	has, err := a.svc.HasMany(ctx, b.h.ID(), append(cs, missing))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range has {
		if h {
			t.Fatalf("has[%d] before any put", i)
		}
	}
	for i, blk := range blocks {
		tentative := i%2 == 0
		if err := a.svc.PutBlock(ctx, b.h.ID(), blk, tentative); err != nil {
			t.Fatalf("put %d bytes: %v", len(blk.Data), err)
		}
		if !b.store.has(blk.CID) || b.store.isTentative(blk.CID) != tentative {
			t.Fatalf("put %d bytes returned before the remote stored it (tentative %v)", len(blk.Data), tentative)
		}
	}
	has, err = a.svc.HasMany(ctx, b.h.ID(), append(cs, missing))
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range has {
		if want := i < len(cs); h != want {
			t.Fatalf("has[%d] = %v, want %v", i, h, want)
		}
	}
	for _, blk := range blocks {
		got, err := a.svc.GetBlock(ctx, b.h.ID(), blk.CID)
		if err != nil {
			t.Fatalf("get %d bytes: %v", len(blk.Data), err)
		}
		if !got.CID.Equals(blk.CID) || !bytes.Equal(got.Data, blk.Data) {
			t.Fatalf("get %d bytes: wrong block back", len(blk.Data))
		}
	}
	if _, err := a.svc.GetBlock(ctx, b.h.ID(), missing); !errors.Is(err, ErrNotFound) || !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("get missing: %v, want not found", err)
	}
	if err := a.svc.Confirm(ctx, b.h.ID(), cs); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if b.store.isTentative(c) {
			t.Fatalf("%s still tentative after confirm", c)
		}
	}
	if err := a.svc.Confirm(ctx, b.h.ID(), []cid.Cid{missing}); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("confirm missing: %v, want not found", err)
	}
	// Abandon deletes tentative copies only: the confirmed blocks stay,
	// a fresh tentative one goes, and a CID not held is no error.
	loose := randomBlock(t, 1000)
	if err := a.svc.PutBlock(ctx, b.h.ID(), loose, true); err != nil {
		t.Fatal(err)
	}
	if err := a.svc.Abandon(ctx, b.h.ID(), append([]cid.Cid{loose.CID, missing}, cs...)); err != nil {
		t.Fatalf("abandon: %v", err)
	}
	if b.store.has(loose.CID) {
		t.Fatal("abandon kept a tentative copy")
	}
	for _, c := range cs {
		if !b.store.has(c) {
			t.Fatalf("abandon deleted confirmed block %s", c)
		}
	}
	// An empty list needs no request.
	if has, err := a.svc.HasMany(ctx, b.h.ID(), nil); err != nil || len(has) != 0 {
		t.Fatalf("has of nothing: %v %v", has, err)
	}

	n := float64(len(blocks))
	for _, tc := range []struct {
		s       *Service
		dir, op string
		want    float64
	}{
		{a.svc, "out", "put", n + 1}, {b.svc, "in", "put", n + 1}, // and loose
		{b.svc, "out", "get", n}, {a.svc, "in", "get", n},
	} {
		if got := promtest.ToFloat64(tc.s.m.blocks.WithLabelValues(tc.dir, tc.op)); got != tc.want {
			t.Errorf("blocks{%s,%s} = %v, want %v", tc.dir, tc.op, got, tc.want)
		}
	}
	if got := promtest.ToFloat64(a.svc.m.bytes.WithLabelValues("out", "put")); got < 1+block.MaxChunkSize+100_000 {
		t.Errorf("bytes{out,put} = %v, too few", got)
	}
	if got := promtest.CollectAndCount(a.svc.m.duration); got == 0 {
		t.Error("no request durations observed")
	}
}

func TestBatchesSplit(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBatch = 3
	a, b := newNode(t, cfg), newNode(t, cfg)
	connect(t, a.h, b.h)
	var cs []cid.Cid
	for i := range 10 {
		blk := randomBlock(t, 8)
		cs = append(cs, blk.CID)
		if i%2 == 0 {
			if err := a.svc.PutBlock(t.Context(), b.h.ID(), blk, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	has, err := a.svc.HasMany(t.Context(), b.h.ID(), cs)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range has {
		if h != (i%2 == 0) {
			t.Fatalf("has[%d] = %v", i, h)
		}
	}
	if len(has) != len(cs) {
		t.Fatalf("%d answers for %d cids", len(has), len(cs))
	}
}

func TestClientRefusesBadArguments(t *testing.T) {
	a, b := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	v0, err := cid.Decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.GetBlock(t.Context(), b.h.ID(), v0); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("get of a CIDv0: %v", err)
	}
	if err := a.svc.PutBlock(t.Context(), b.h.ID(), block.Block{CID: cid.Undef}, false); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("put with no CID: %v", err)
	}
	big := randomBlock(t, DefaultConfig().MaxFrameBytes)
	if err := a.svc.PutBlock(t.Context(), b.h.ID(), big, false); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("put over the frame limit: %v", err)
	}
	if got := b.store.putCalls(); got != 0 {
		t.Fatalf("%d puts reached the remote store", got)
	}
}

// honest checks that a and b still serve each other after a hostile episode.
func honest(t *testing.T, a, b *node) {
	t.Helper()
	blk := randomBlock(t, 64<<10)
	if err := a.svc.PutBlock(t.Context(), b.h.ID(), blk, false); err != nil {
		t.Fatalf("honest put after hostile peer: %v", err)
	}
	got, err := a.svc.GetBlock(t.Context(), b.h.ID(), blk.CID)
	if err != nil || !bytes.Equal(got.Data, blk.Data) {
		t.Fatalf("honest get after hostile peer: %v", err)
	}
}

func TestHostilePutMismatch(t *testing.T) {
	a, b := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	good := randomBlock(t, 4096)
	evil := bytes.Clone(good.Data)
	evil[100] ^= 1

	status, body := rawRequest(t, a.h, b.h.ID(), encodePutHeader(good.CID, false), evil)
	if status != statusIntegrity {
		t.Fatalf("status %s (%q), want integrity", statusName(status), body)
	}
	if b.store.has(good.CID) || b.store.putCalls() != 0 {
		t.Fatal("mismatched bytes reached the store")
	}
	if got := rejected(b.svc, reasonIntegrity); got != 1 {
		t.Fatalf("rejected{integrity} = %v, want 1", got)
	}
	honest(t, a, b)
}

func TestHostileHugeFrameHeader(t *testing.T) {
	a, b := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	// The header claims 1 GiB and a little body follows; nothing more.
	raw := append(frameHeader(1<<30), opPut, 0)
	var err error
	grew := allocatedBy(func() { _, err = rawExchange(t, a.h, b.h.ID(), raw, false) })
	if grew > 64<<20 {
		t.Fatalf("a 1 GiB header cost %d bytes of allocation", grew)
	}
	if !errors.Is(err, network.ErrReset) {
		t.Fatalf("read after a 1 GiB header: %v, want stream reset", err)
	}
	if got := rejected(b.svc, reasonTooLarge); got != 1 {
		t.Fatalf("rejected{frame_too_large} = %v, want 1", got)
	}
	honest(t, a, b)
}

// TestNoAllocationForClaimedSize checks the reader directly: a claim over
// the limit allocates nothing, and a claim within it that is never sent
// costs what arrived, not what was claimed.
func TestNoAllocationForClaimedSize(t *testing.T) {
	r := bytes.NewReader(append(frameHeader(1<<30), 1, 2, 3))
	var err error
	if grew := allocatedBy(func() { _, err = readFrameLen(r, 64<<20) }); grew > 64<<10 {
		t.Fatalf("rejecting a 1 GiB header allocated %d bytes", grew)
	}
	if !errors.Is(err, errFrameTooLarge) {
		t.Fatalf("1 GiB header: %v", err)
	}
	body := bytes.NewReader(make([]byte, 10))
	var buf []byte
	grew := allocatedBy(func() { buf, err = readFrameBody(body, 60<<20, nil) })
	if !errors.Is(err, io.ErrUnexpectedEOF) || buf != nil {
		t.Fatalf("short body: %v", err)
	}
	if grew > 4<<20 {
		t.Fatalf("reading 10 bytes of a 60 MiB claim allocated %d bytes", grew)
	}
}

// allocatedBy reports the bytes the process allocated while f ran.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestHostileMalformedRequests(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBatch = 4
	a, b := newNode(t, cfg), newNode(t, cfg)
	connect(t, a.h, b.h)
	good := randomBlock(t, 10)
	var v0 cid.Cid
	v0, _ = cid.Decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	five := []cid.Cid{good.CID, good.CID, good.CID, good.CID, good.CID}
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"garbage op", []byte{0x7f, 1, 2, 3}},
		{"zero op", []byte{0}},
		{"put without flags", []byte{opPut}},
		{"put unknown flag", append([]byte{opPut, 0x80}, appendCID(nil, good.CID)...)},
		{"get cid garbage", append([]byte{opGet, 5}, "hello"...)},
		{"get cid truncated", appendCID([]byte{opGet}, good.CID)[:10]},
		{"get cidv0", appendCID([]byte{opGet}, v0)},
		{"get trailing bytes", append(encodeGet(good.CID), 0)},
		{"get cid length huge", []byte{opGet, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"has over batch", encodeBatch(opHas, five)},
		{"has count beyond payload", []byte{opHas, 4, 1}},
		{"confirm bad varint", []byte{opConfirm, 0x80}},
		{"abandon over batch", encodeBatch(opAbandon, five)},
		{"abandon cid garbage", append([]byte{opAbandon, 1, 5}, "hello"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRequest(t, a.h, b.h.ID(), tc.payload)
			if status != statusBadRequest {
				t.Fatalf("status %s (%q), want bad_request", statusName(status), body)
			}
		})
	}
	if got := rejected(b.svc, reasonBadRequest); got < 12 {
		t.Fatalf("rejected{bad_request} = %v, want 12", got)
	}
	// An empty frame (length 0) is malformed too.
	out, err := rawExchange(t, a.h, b.h.ID(), []byte{0}, true)
	if err != nil || len(out) < 2 || out[1] != statusBadRequest {
		t.Fatalf("empty frame: %x %v", out, err)
	}
	honest(t, a, b)
}

func TestHostileTruncatedFrame(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequestTimeout = 300 * time.Millisecond
	a, b := newNode(t, DefaultConfig()), newNode(t, cfg)
	connect(t, a.h, b.h)

	// Claims 1000 bytes, sends 10 and half-closes: the handler sees EOF.
	raw := append(frameHeader(1000), make([]byte, 10)...)
	if _, err := rawExchange(t, a.h, b.h.ID(), raw, true); !errors.Is(err, network.ErrReset) {
		t.Fatalf("truncated frame: %v, want reset", err)
	}
	// Claims 1000 bytes, sends 10 and stalls: the handler's deadline ends it.
	start := time.Now()
	if _, err := rawExchange(t, a.h, b.h.ID(), raw, false); !errors.Is(err, network.ErrReset) {
		t.Fatalf("stalled frame: %v, want reset", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stalled frame held the handler %s", d)
	}
	// A stalled length prefix (a continuation byte, then nothing) too.
	if _, err := rawExchange(t, a.h, b.h.ID(), []byte{0x80}, false); !errors.Is(err, network.ErrReset) {
		t.Fatalf("stalled header: %v, want reset", err)
	}
	if got := rejected(b.svc, reasonTruncated); got != 3 {
		t.Fatalf("rejected{truncated} = %v, want 3", got)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return b.svc.inbound.len() == 0 }, "inbound slots not released")
	honest(t, a, b)
}

func TestHostileServer(t *testing.T) {
	a, b := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	evilHost := newHost(t)
	connect(t, a.h, b.h)
	connect(t, a.h, evilHost)
	blk := randomBlock(t, 50_000)
	wrong := bytes.Clone(blk.Data)
	wrong[0] ^= 0xff

	var answer []byte
	evilHost.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Close()
		n, err := readFrameLen(st, 1<<20)
		if err != nil {
			st.Reset()
			return
		}
		if _, err := readFrameBody(st, n, nil); err != nil {
			st.Reset()
			return
		}
		st.Write(answer)
	})
	frame := func(parts ...[]byte) []byte {
		var p []byte
		for _, x := range parts {
			p = append(p, x...)
		}
		return append(frameHeader(len(p)), p...)
	}

	answer = frame([]byte{statusOK}, wrong)
	_, err := a.svc.GetBlock(t.Context(), evilHost.ID(), blk.CID)
	if !errors.Is(err, ErrIntegrity) || !errors.Is(err, xnode.ErrIntegrity) {
		t.Fatalf("wrong bytes: %v, want integrity error", err)
	}
	if got := rejected(a.svc, reasonIntegrity); got != 1 {
		t.Fatalf("rejected{integrity} = %v, want 1", got)
	}
	if got := promtest.ToFloat64(a.svc.m.blocks.WithLabelValues("in", "get")); got != 0 {
		t.Fatalf("a wrong block was counted as received")
	}

	for _, tc := range []struct {
		name   string
		answer []byte
		want   error
	}{
		{"huge frame", frameHeader(1 << 30), ErrRemote},
		{"empty frame", []byte{0}, ErrRemote},
		{"unknown status", frame([]byte{99}), ErrRemote},
		{"truncated", frameHeader(100), ErrRemote},
		{"busy", frame([]byte{statusBusy}), xnode.ErrOverloaded},
		{"internal", frame(failure(statusInternal, strings.Repeat("x", 2000))), xnode.ErrUnavailable},
	} {
		answer = tc.answer
		if _, err := a.svc.GetBlock(t.Context(), evilHost.ID(), blk.CID); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	answer = frame([]byte{statusOK, 3, 0xff})
	if _, err := a.svc.HasMany(t.Context(), evilHost.ID(), []cid.Cid{blk.CID}); !errors.Is(err, ErrRemote) {
		t.Errorf("bad bitmap: %v, want remote error", err)
	}
	honest(t, a, b)
}

func TestInboundLimitAnswersBusy(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxInboundPerPeer = 2
	clientCfg := DefaultConfig()
	clientCfg.MaxOutboundPerPeer = 16
	a, b, c := newNode(t, clientCfg), newNode(t, cfg), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	connect(t, c.h, b.h)

	slow, fast := randomBlock(t, 1000), randomBlock(t, 1000)
	for _, blk := range []block.Block{slow, fast} {
		if err := a.svc.PutBlock(t.Context(), b.h.ID(), blk, false); err != nil {
			t.Fatal(err)
		}
	}
	open := b.store.hold(slow.CID)
	defer open()

	const calls = 6
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := a.svc.GetBlock(t.Context(), b.h.ID(), slow.CID)
			errs <- err
		}()
	}
	for range cfg.MaxInboundPerPeer {
		select {
		case <-b.store.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("requests did not reach the store")
		}
	}
	for range calls - cfg.MaxInboundPerPeer {
		select {
		case err := <-errs:
			if !errors.Is(err, ErrOverloaded) || !errors.Is(err, xnode.ErrOverloaded) {
				t.Fatalf("request over the limit: %v, want overloaded", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("requests over the limit were not answered")
		}
	}
	// While a's two requests hold their slots, another peer is served.
	got, err := c.svc.GetBlock(t.Context(), b.h.ID(), fast.CID)
	if err != nil || !bytes.Equal(got.Data, fast.Data) {
		t.Fatalf("other peer while a is at its limit: %v", err)
	}
	// The streams of the held requests belong to the xnode.block service.
	err = b.h.Network().ResourceManager().ViewService(ServiceName, func(s network.ServiceScope) error {
		if st := s.Stat(); st.NumStreamsInbound < cfg.MaxInboundPerPeer || st.Memory <= 0 {
			t.Errorf("service scope stat %+v, want the held streams and their memory", st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	open()
	for range cfg.MaxInboundPerPeer {
		if err := <-errs; err != nil {
			t.Fatalf("held request: %v", err)
		}
	}
	// Each refused request was sent 1+busyRetries times.
	if got, want := rejected(b.svc, reasonBusy), float64((calls-cfg.MaxInboundPerPeer)*(1+a.svc.cfg.BusyRetries)); got != want {
		t.Fatalf("rejected{busy} = %v, want %v", got, want)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return b.svc.inbound.len() == 0 && a.svc.outbound.len() == 0
	}, "per-peer limiter entries not cleaned up")
}

// TestBusyRetried frees the server's only slot after the client's first
// request was answered BUSY: the client sends it again and it succeeds,
// instead of reporting the peer overloaded.
func TestBusyRetried(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxInboundPerPeer = 1
	clientCfg := DefaultConfig()
	clientCfg.BusyBackoff = 200 * time.Millisecond // room to free the slot before the first retry
	a, b := newNode(t, clientCfg), newNode(t, cfg)
	connect(t, a.h, b.h)
	blk := randomBlock(t, 1000)
	if err := a.svc.PutBlock(t.Context(), b.h.ID(), blk, false); err != nil {
		t.Fatal(err)
	}
	open := b.store.hold(blk.CID)
	held := make(chan error, 1)
	go func() { _, err := a.svc.GetBlock(t.Context(), b.h.ID(), blk.CID); held <- err }()
	select {
	case <-b.store.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("first request did not reach the store")
	}
	second := make(chan error, 1)
	go func() { _, err := a.svc.GetBlock(t.Context(), b.h.ID(), blk.CID); second <- err }()
	testutil.Eventually(t, 10*time.Second, func() bool { return rejected(b.svc, reasonBusy) >= 1 }, "second request not answered busy")
	open()
	for name, ch := range map[string]chan error{"held": held, "retried": second} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("%s request: %v", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s request never returned", name)
		}
	}
}

func TestOutboundLimitQueues(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxOutboundPerPeer = 1
	a, b := newNode(t, cfg), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	slow := randomBlock(t, 100)
	if err := a.svc.PutBlock(t.Context(), b.h.ID(), slow, false); err != nil {
		t.Fatal(err)
	}
	open := b.store.hold(slow.CID)
	defer open()
	first := make(chan error, 1)
	go func() {
		_, err := a.svc.GetBlock(t.Context(), b.h.ID(), slow.CID)
		first <- err
	}()
	<-b.store.entered
	// The one slot is taken: a second call waits, and its deadline ends it
	// before it sends anything.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.svc.GetBlock(ctx, b.h.ID(), slow.CID); !errors.Is(err, xnode.ErrTimeout) {
		t.Fatalf("queued call past its deadline: %v, want timeout", err)
	}
	open()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
}

func TestCloseResetsAndWaits(t *testing.T) {
	a, b := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	connect(t, a.h, b.h)
	slow := randomBlock(t, 100)
	if err := a.svc.PutBlock(t.Context(), b.h.ID(), slow, false); err != nil {
		t.Fatal(err)
	}
	open := b.store.hold(slow.CID)
	defer open()
	done := make(chan error, 1)
	go func() {
		_, err := a.svc.GetBlock(t.Context(), b.h.ID(), slow.CID)
		done <- err
	}()
	<-b.store.entered
	if err := b.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("request to a closed service succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("client still waiting after the server closed")
	}
	// The handler is gone: a new request finds no protocol.
	if _, err := a.svc.GetBlock(t.Context(), b.h.ID(), slow.CID); !errors.Is(err, ErrRemote) {
		t.Fatalf("get from a closed service: %v, want remote error", err)
	}
	if err := a.svc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.GetBlock(t.Context(), b.h.ID(), slow.CID); !errors.Is(err, ErrClosed) {
		t.Fatalf("get on a closed client: %v, want ErrClosed", err)
	}
	if err := a.svc.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		edit  func(*Config)
	}{
		{"MaxFrameBytes", func(c *Config) { c.MaxFrameBytes = block.MaxChunkSize }},
		{"MaxFrameBytes", func(c *Config) { c.MaxFrameBytes = 1 << 30 }},
		{"MaxInboundPerPeer", func(c *Config) { c.MaxInboundPerPeer = 0 }},
		{"MaxOutboundPerPeer", func(c *Config) { c.MaxOutboundPerPeer = -1 }},
		{"MaxBatch", func(c *Config) { c.MaxBatch = 0 }},
		{"MaxBatch", func(c *Config) { c.MaxBatch = 1 << 20 }},
		{"RequestTimeout", func(c *Config) { c.RequestTimeout = 0 }},
		{"BusyRetries", func(c *Config) { c.BusyRetries = -1 }},
		{"BusyRetries", func(c *Config) { c.BusyRetries = 11 }},
		{"BusyBackoff", func(c *Config) { c.BusyBackoff = 0 }},
		{"BusyBackoff", func(c *Config) { c.BusyBackoff = time.Minute }},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, xnode.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v, want an invalid argument naming the field", tc.field, err)
		}
	}
	h := newHost(t)
	if _, err := New(Config{}, h, newMemStore(), nil, testutil.Logger("x")); err == nil {
		t.Fatal("New accepted a zero config")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(DefaultConfig(), h, newMemStore(), reg, testutil.Logger("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := New(DefaultConfig(), h, newMemStore(), reg, testutil.Logger("x")); err == nil {
		t.Fatal("two services registered metrics on one registry")
	}
}

// panicStore panics on Get, standing in for a bug that some input reaches.
type panicStore struct{ *memStore }

func (panicStore) Get(context.Context, cid.Cid) (block.Block, error) { panic("store bug") }

func TestHandlerPanicIsContained(t *testing.T) {
	a := newNode(t, DefaultConfig())
	h := newHost(t)
	store := panicStore{newMemStore()}
	svc, err := New(DefaultConfig(), h, store, nil, testutil.Logger("panicky"))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	connect(t, a.h, h)
	blk := randomBlock(t, 100)
	for range 2 {
		if _, err := a.svc.GetBlock(t.Context(), h.ID(), blk.CID); !errors.Is(err, ErrRemote) {
			t.Fatalf("get from a panicking handler: %v, want remote error", err)
		}
	}
	// The node is still up and serves what does not panic.
	if err := a.svc.PutBlock(t.Context(), h.ID(), blk, false); err != nil {
		t.Fatalf("put after handler panics: %v", err)
	}
	if !store.has(blk.CID) {
		t.Fatal("block not stored")
	}
}
