package transfer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/block"
)

// The fuzz tests of the block protocol's decoders: what a peer sends is
// read by readFrameLen and readFrameBody (both sides), decodeRequest and
// serve (server), and decodeResponse and decodeBitmap (client). Each
// checks, beyond not panicking, that what is accepted is within its limits
// and re-encodes to exactly the bytes it came from (the wire format has one
// encoding per message), and that what is refused is refused with the
// error kind the caller branches on.

// seedRequests are valid request payloads of every op, and a few broken
// ones.
func seedRequests() [][]byte {
	b := block.NewRaw([]byte("fuzz"))
	m := block.Sum(block.CodecManifest, []byte("manifest"))
	seeds := [][]byte{
		append(encodePutHeader(b.CID, true), b.Data...),
		append(encodePutHeader(b.CID, false), b.Data...),
		encodePutHeader(m, false),
		encodeGet(b.CID),
		encodeGet(m),
		[]byte{opHas, 0xff, 0xff, 0xff, 0xff, 0x0f},
		[]byte{opHas, 0x80, 0x00}, // a padded count
		[]byte{0x7f},
		[]byte{opPut, 0x02},
	}
	for _, op := range []byte{opHas, opConfirm, opAbandon} {
		seeds = append(seeds, encodeBatch(op, nil), encodeBatch(op, []cid.Cid{b.CID}), encodeBatch(op, []cid.Cid{b.CID, m, b.CID}))
	}
	return seeds
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s, uint16(64))
	}
	f.Add(encodeBatch(opHas, make([]cid.Cid, 0)), uint16(0))
	f.Fuzz(func(t *testing.T, payload []byte, maxBatch uint16) {
		req, err := decodeRequest(payload, int(maxBatch))
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("refused with an error that is not errMalformed: %v", err)
			}
			return
		}
		var again []byte
		switch req.op {
		case opPut:
			if err := block.Check(req.cid); err != nil {
				t.Fatalf("put: accepted an unchecked CID: %v", err)
			}
			again = append(encodePutHeader(req.cid, req.tentative), req.data...)
		case opGet:
			if err := block.Check(req.cid); err != nil {
				t.Fatalf("get: accepted an unchecked CID: %v", err)
			}
			again = encodeGet(req.cid)
		case opHas, opConfirm, opAbandon:
			if len(req.cids) > int(maxBatch) {
				t.Fatalf("%s: accepted %d cids over the batch limit %d", opName(req.op), len(req.cids), maxBatch)
			}
			for _, c := range req.cids {
				if err := block.Check(c); err != nil {
					t.Fatalf("%s: accepted an unchecked CID: %v", opName(req.op), err)
				}
			}
			again = encodeBatch(req.op, req.cids)
		default:
			// A new op needs its round trip here.
			t.Fatalf("accepted op %d", req.op)
		}
		if opName(req.op) == "unknown" {
			t.Fatalf("accepted op %d has no name", req.op)
		}
		if !bytes.Equal(again, payload) {
			t.Fatalf("%s: decoded %x, which re-encodes to %x", opName(req.op), payload, again)
		}
	})
}

// seedResponses are answer payloads of every status, as the server builds
// them.
func seedResponses() [][]byte {
	return [][]byte{
		{statusOK},
		{statusOK, 'b', 'l', 'o', 'c', 'k'},
		encodeBitmap(nil),
		encodeBitmap([]bool{true}),
		encodeBitmap([]bool{true, false, true, true, false, false, true, false, true}),
		failure(statusNotFound, ""),
		failure(statusNotFound, "local copy corrupt"),
		failure(statusBadRequest, "malformed frame: unknown op 9"),
		failure(statusIntegrity, "block: bytes do not match CID"),
		failure(statusBusy, "too many concurrent requests"),
		failure(statusInternal, "store failed"),
		failure(statusInternal, strings.Repeat("\xff", 2*maxMessageBytes)),
		{0x09, 'x'},
		{},
	}
}

func FuzzDecodeResponse(f *testing.F) {
	for _, s := range seedResponses() {
		f.Add(s, uint16(9))
	}
	f.Add(encodeBitmap(make([]bool, 100)), uint16(100))
	f.Fuzz(func(t *testing.T, payload []byte, want uint16) {
		body, err := decodeResponse(payload)
		if err != nil {
			if body != nil {
				t.Fatal("a body came with an error")
			}
			kinds := []error{ErrNotFound, ErrOverloaded, ErrIntegrity, ErrRejected, ErrRemote}
			known := false
			for _, k := range kinds {
				known = known || errors.Is(err, k)
			}
			if !known {
				t.Fatalf("an answer mapped to an error of no known kind: %v", err)
			}
			// A peer's message is bounded however long it is, even quoted.
			if n := len(err.Error()); n > 4*maxMessageBytes+200 {
				t.Fatalf("an error of %d bytes from a %d-byte answer", n, len(payload))
			}
			if len(payload) > 0 && payload[0] == statusBusy && !errors.Is(err, errRemoteBusy) {
				t.Fatalf("BUSY not marked as such: %v", err)
			}
			return
		}
		if len(payload) == 0 || payload[0] != statusOK || !bytes.Equal(body, payload[1:]) {
			t.Fatalf("accepted %x as OK with body %x", payload, body)
		}
		// The body of an OK answer to HAS.
		bits, err := decodeBitmap(body, int(want))
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("bitmap refused with an error that is not errMalformed: %v", err)
			}
			return
		}
		if len(bits) != int(want) {
			t.Fatalf("%d bits, want %d", len(bits), want)
		}
		if again := encodeBitmap(bits); !bytes.Equal(again, payload) {
			t.Fatalf("bitmap %x re-encodes to %x", payload, again)
		}
	})
}

func FuzzReadFrame(f *testing.F) {
	for _, s := range append(seedRequests(), seedResponses()...) {
		f.Add(append(frameHeader(len(s)), s...), uint32(DefaultConfig().MaxFrameBytes))
	}
	f.Add([]byte{0x80, 0x01, 0x00}, uint32(1024))                                                 // a padded length
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, uint32(1024)) // overflow
	f.Add([]byte{0x00}, uint32(1024))
	f.Add([]byte{0x05, 'a', 'b'}, uint32(1024))
	f.Add(append(frameHeader(300), make([]byte, 300)...), uint32(299))
	var pool framePool
	f.Fuzz(func(t *testing.T, stream []byte, max uint32) {
		limit := int(max%(1<<20)) + 1 // a frame is allocated up to its limit
		r := bytes.NewReader(stream)
		n, err := readFrameLen(r, limit)
		prefix := len(stream) - r.Len()
		if prefix > binaryMaxVarintLen64 {
			t.Fatalf("read %d bytes of length prefix", prefix)
		}
		if err != nil {
			if !errors.Is(err, errMalformed) && !errors.Is(err, errFrameTooLarge) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("length refused with an error of no known kind: %v", err)
			}
			return
		}
		if n < 1 || n > limit {
			t.Fatalf("accepted a length of %d with limit %d", n, limit)
		}
		if !bytes.Equal(frameHeader(n), stream[:prefix]) {
			t.Fatalf("length prefix %x is not the encoding of %d", stream[:prefix], n)
		}
		body, err := readFrameBody(r, n, &pool)
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) || len(stream)-prefix >= n {
				t.Fatalf("body of %d bytes from %d available: %v", n, len(stream)-prefix, err)
			}
			return
		}
		if !bytes.Equal(body, stream[prefix:prefix+n]) {
			t.Fatal("body differs from the bytes sent")
		}
		pool.put(body)
	})
}

// binaryMaxVarintLen64 is the longest uvarint (binary.MaxVarintLen64).
const binaryMaxVarintLen64 = 10

// FuzzServe runs the server's request handling, after the frame is read,
// against an in-memory store: whatever the payload, it answers one
// well-formed frame within the limits, and the store never sees bytes that
// do not match their CID.
func FuzzServe(f *testing.F) {
	for _, s := range seedRequests() {
		f.Add(s)
	}
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableMetrics(), libp2p.DisableRelay())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close() })
	store := newMemStore()
	store.trusting = true // the server alone must keep bad bytes out
	cfg := DefaultConfig()
	cfg.MaxBatch = 64
	svc, err := New(cfg, h, store, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	// One block the GETs and HASes of the seeds find.
	held := block.NewRaw([]byte("fuzz"))
	if err := store.Put(context.Background(), held, false); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) == 0 {
			return // readFrameLen refuses an empty frame before serve
		}
		resp := svc.serve(context.Background(), svc.log, payload)
		var answer []byte
		for _, p := range resp {
			answer = append(answer, p...)
		}
		if len(answer) == 0 || len(answer) > cfg.MaxFrameBytes {
			t.Fatalf("answer of %d bytes", len(answer))
		}
		if answer[0] > statusInternal {
			t.Fatalf("answer with unknown status %d", answer[0])
		}
		if answer[0] != statusOK && len(answer)-1 > maxMessageBytes {
			t.Fatalf("failure message of %d bytes", len(answer)-1)
		}
		if _, err := decodeResponse(answer); err != nil && answer[0] == statusOK {
			t.Fatalf("OK answer does not decode: %v", err)
		}
		req, derr := decodeRequest(payload, cfg.MaxBatch)
		switch {
		case derr != nil:
			if answer[0] != statusBadRequest {
				t.Fatalf("malformed request answered with status %d", answer[0])
			}
		case req.op == opPut:
			if got, ok := storedData(store, req.cid); ok && block.Verify(req.cid, got) != nil {
				t.Fatalf("stored bytes that do not match %s", req.cid)
			}
			if block.Verify(req.cid, req.data) != nil && answer[0] != statusIntegrity {
				t.Fatalf("PUT of wrong bytes answered with status %d", answer[0])
			}
		case req.op == opHas && answer[0] == statusOK:
			if _, err := decodeBitmap(answer[1:], len(req.cids)); err != nil {
				t.Fatalf("HAS answer does not decode: %v", err)
			}
		}
	})
}

func storedData(m *memStore, c cid.Cid) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.blocks[c]
	return d, ok
}

// The wire format has one encoding per message: padded uvarints and set
// padding bits, which a lenient decoder would accept, are refused.
func TestWireRefusesNonCanonicalEncodings(t *testing.T) {
	b := block.NewRaw([]byte("x"))
	for name, payload := range map[string][]byte{
		"padded count":      {opHas, 0x81, 0x00},
		"padded zero count": {opConfirm, 0x80, 0x00},
		"padded cid length": append([]byte{opGet, 0x80 | byte(len(b.CID.Bytes())), 0x00}, b.CID.Bytes()...),
	} {
		if _, err := decodeRequest(payload, 64); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err %v, want errMalformed", name, err)
		}
	}
	for name, stream := range map[string][]byte{
		"padded length":      {0x81, 0x00, opGet},
		"padded zero length": {0x80, 0x00},
	} {
		if _, err := readFrameLen(bytes.NewReader(stream), 1024); !errors.Is(err, errMalformed) {
			t.Errorf("%s: err %v, want errMalformed", name, err)
		}
	}
	if _, err := readFrameLen(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}), 1024); !errors.Is(err, errMalformed) {
		t.Errorf("overflowing length: err %v, want errMalformed", err)
	}
	if _, err := decodeBitmap([]byte{3, 0x0d}, 3); !errors.Is(err, errMalformed) {
		t.Errorf("bitmap with a padding bit set: err %v, want errMalformed", err)
	}
	if bits, err := decodeBitmap([]byte{3, 0x05}, 3); err != nil || !bits[0] || bits[1] || !bits[2] {
		t.Errorf("bitmap 101: %v %v", bits, err)
	}
}

func TestDecodeResponseMapsEveryStatus(t *testing.T) {
	for _, tc := range []struct {
		payload []byte
		kind    error
	}{
		{failure(statusNotFound, "gone"), ErrNotFound},
		{failure(statusBusy, "busy"), errRemoteBusy},
		{failure(statusIntegrity, "bad bytes"), ErrIntegrity},
		{failure(statusBadRequest, "what"), ErrRejected},
		{failure(statusInternal, "disk"), ErrRemote},
		{[]byte{0x42}, errUnknownStatus},
		{nil, errMalformed},
	} {
		if _, err := decodeResponse(tc.payload); !errors.Is(err, tc.kind) {
			t.Errorf("%x: err %v, want %v", tc.payload, err, tc.kind)
		}
	}
	if body, err := decodeResponse([]byte{statusOK, 1, 2}); err != nil || !bytes.Equal(body, []byte{1, 2}) {
		t.Errorf("OK: %x %v", body, err)
	}
}
