package transfer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
)

// Operation codes, the first byte of a request frame.
const (
	opPut     byte = 1
	opGet     byte = 2
	opHas     byte = 3
	opConfirm byte = 4
	opAbandon byte = 5
)

// Status codes, the first byte of a response frame.
const (
	statusOK         byte = 0
	statusNotFound   byte = 1
	statusBadRequest byte = 2
	statusIntegrity  byte = 3
	statusBusy       byte = 4
	statusInternal   byte = 5
)

// flagTentative is bit 0 of a PUT's flags byte.
const flagTentative byte = 1

// maxCIDBytes bounds one CID on the wire. The CIDs this system accepts
// (CIDv1, raw or dag-cbor, sha2-256) are 36 bytes; the slack lets Cast give
// the precise error for a longer one instead of a framing error.
const maxCIDBytes = 128

// maxMessageBytes bounds the human-readable message in a failure response.
const maxMessageBytes = 512

// probeBytes is how much of a frame body is read into a small buffer before
// the full (already reserved) size is allocated: a peer that claims a large
// frame and sends little costs little, and an honest one costs one small
// extra copy.
const probeBytes = 64 << 10

var (
	errFrameTooLarge = errors.New("frame over limit")
	errMalformed     = errors.New("malformed frame")
)

func opName(op byte) string {
	switch op {
	case opPut:
		return "put"
	case opGet:
		return "get"
	case opHas:
		return "has"
	case opConfirm:
		return "confirm"
	case opAbandon:
		return "abandon"
	}
	return "unknown"
}

func statusName(st byte) string {
	switch st {
	case statusOK:
		return "ok"
	case statusNotFound:
		return "not_found"
	case statusBadRequest:
		return "bad_request"
	case statusIntegrity:
		return "integrity"
	case statusBusy:
		return "busy"
	case statusInternal:
		return "internal"
	}
	return fmt.Sprintf("status_%d", st)
}

// oneByteReader reads a stream a byte at a time, so the length prefix is
// read without buffering past it.
type oneByteReader struct {
	r   io.Reader
	buf [1]byte // the last byte read
	n   int     // bytes read
	err error   // the stream's error, if reading failed
}

func (o *oneByteReader) ReadByte() (byte, error) {
	if _, err := io.ReadFull(o.r, o.buf[:]); err != nil {
		o.err = err
		return 0, err
	}
	o.n++
	return o.buf[0], nil
}

// readFrameLen reads a frame's uvarint length prefix and checks it against
// max. It reads at most 10 bytes whatever the remote sends.
func readFrameLen(r io.Reader, max int) (int, error) {
	br := &oneByteReader{r: r}
	n, err := binary.ReadUvarint(br)
	if err != nil {
		if br.err == nil { // not the stream's error: the varint overflows
			return 0, fmt.Errorf("%w: length prefix: %v", errMalformed, err)
		}
		if errors.Is(err, io.EOF) {
			return 0, io.ErrUnexpectedEOF
		}
		return 0, err
	}
	// One length, one encoding: a prefix padded with 0x80 bytes (which
	// binary.ReadUvarint accepts) is refused, as is a padded uvarint inside
	// a payload.
	if br.n > 1 && br.buf[0] == 0 {
		return 0, fmt.Errorf("%w: length prefix not minimally encoded", errMalformed)
	}
	if n > uint64(max) {
		return 0, fmt.Errorf("%w: %d > %d bytes", errFrameTooLarge, n, max)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: empty frame", errMalformed)
	}
	return int(n), nil
}

// readFrameBody reads exactly n bytes. It takes a buffer of n bytes only
// after the first probeBytes have arrived. Buffers come from pool (nil
// allocates); the caller gives the one returned back with pool.put.
func readFrameBody(r io.Reader, n int, pool *framePool) ([]byte, error) {
	probe := pool.get(min(n, probeBytes))
	if _, err := io.ReadFull(r, probe); err != nil {
		pool.put(probe)
		return nil, unexpectedEOF(err)
	}
	if n == len(probe) {
		return probe, nil
	}
	buf := pool.get(n)
	copy(buf, probe)
	pool.put(probe)
	if _, err := io.ReadFull(r, buf[len(probe):]); err != nil {
		pool.put(buf)
		return nil, unexpectedEOF(err)
	}
	return buf, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameHeader returns the uvarint length prefix for a payload of n bytes.
func frameHeader(n int) []byte {
	return binary.AppendUvarint(nil, uint64(n))
}

// writeFrame writes one frame whose payload is the concatenation of parts,
// without copying large parts.
func writeFrame(w io.Writer, parts ...[]byte) error {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	// The prefix and the small leading part go out in one write; a big
	// trailing part (block data) is written as it is.
	head := frameHeader(total)
	rest := parts
	for len(rest) > 0 && len(rest[0]) <= 1024 {
		head = append(head, rest[0]...)
		rest = rest[1:]
	}
	if _, err := w.Write(head); err != nil {
		return err
	}
	for _, p := range rest {
		if len(p) == 0 {
			continue
		}
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}

// appendCID appends c as a uvarint length and its binary form.
func appendCID(dst []byte, c cid.Cid) []byte {
	b := c.Bytes()
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// decoder walks a frame payload; the first error sticks.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{errMalformed}, args...)...)
	}
}

func (d *decoder) byte1(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.fail("missing %s", what)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint(what string, max uint64) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad %s", what)
		return 0
	}
	if n > 1 && d.buf[n-1] == 0 {
		d.fail("%s not minimally encoded", what)
		return 0
	}
	if v > max {
		d.fail("%s %d over %d", what, v, max)
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) cid() cid.Cid {
	n := d.uvarint("cid length", maxCIDBytes)
	if d.err != nil {
		return cid.Undef
	}
	if uint64(len(d.buf)) < n {
		d.fail("cid truncated")
		return cid.Undef
	}
	c, err := block.Cast(d.buf[:n])
	if err != nil {
		if d.err == nil {
			d.err = fmt.Errorf("%w: %w", errMalformed, err)
		}
		return cid.Undef
	}
	d.buf = d.buf[n:]
	return c
}

func (d *decoder) cids(maxBatch int) []cid.Cid {
	n := d.uvarint("cid count", uint64(maxBatch))
	if d.err != nil {
		return nil
	}
	// Each CID takes at least 2 bytes, so a count the payload cannot hold
	// is refused before allocating for it.
	if n > uint64(len(d.buf)/2) {
		d.fail("cid count %d exceeds payload", n)
		return nil
	}
	cs := make([]cid.Cid, 0, n)
	for range n {
		c := d.cid()
		if d.err != nil {
			return nil
		}
		cs = append(cs, c)
	}
	return cs
}

func (d *decoder) rest() []byte {
	b := d.buf
	d.buf = nil
	return b
}

func (d *decoder) end() {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
}

// request is a decoded request frame.
type request struct {
	op        byte
	tentative bool
	cid       cid.Cid   // PUT, GET
	data      []byte    // PUT
	cids      []cid.Cid // HAS, CONFIRM, ABANDON
}

// decodeRequest parses a request payload. It never panics; every problem is
// an error wrapping errMalformed.
func decodeRequest(payload []byte, maxBatch int) (request, error) {
	d := decoder{buf: payload}
	req := request{op: d.byte1("op")}
	switch req.op {
	case opPut:
		flags := d.byte1("flags")
		if flags&^flagTentative != 0 {
			d.fail("unknown flags 0x%x", flags)
		}
		req.tentative = flags&flagTentative != 0
		req.cid = d.cid()
		req.data = d.rest()
	case opGet:
		req.cid = d.cid()
	case opHas, opConfirm, opAbandon:
		req.cids = d.cids(maxBatch)
	default:
		if d.err == nil {
			d.fail("unknown op %d", req.op)
		}
	}
	d.end()
	return req, d.err
}

func encodePutHeader(c cid.Cid, tentative bool) []byte {
	var flags byte
	if tentative {
		flags |= flagTentative
	}
	return appendCID([]byte{opPut, flags}, c)
}

func encodeGet(c cid.Cid) []byte { return appendCID([]byte{opGet}, c) }

func encodeBatch(op byte, cs []cid.Cid) []byte {
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(cs)*38)
	out = append(out, op)
	out = binary.AppendUvarint(out, uint64(len(cs)))
	for _, c := range cs {
		out = appendCID(out, c)
	}
	return out
}

// encodeBitmap packs bits LSB-first after their count.
func encodeBitmap(bits []bool) []byte {
	out := binary.AppendUvarint([]byte{statusOK}, uint64(len(bits)))
	packed := make([]byte, (len(bits)+7)/8)
	for i, b := range bits {
		if b {
			packed[i/8] |= 1 << (i % 8)
		}
	}
	return append(out, packed...)
}

// decodeBitmap parses the body of an OK answer to HAS and checks it holds
// exactly want bits.
func decodeBitmap(body []byte, want int) ([]bool, error) {
	d := decoder{buf: body}
	n := d.uvarint("bit count", uint64(want))
	if d.err == nil && n != uint64(want) {
		d.fail("%d bits, want %d", n, want)
	}
	if d.err != nil {
		return nil, d.err
	}
	packed := d.rest()
	if len(packed) != (want+7)/8 {
		return nil, fmt.Errorf("%w: bitmap of %d bytes for %d bits", errMalformed, len(packed), want)
	}
	if want%8 != 0 && packed[len(packed)-1]>>(want%8) != 0 {
		return nil, fmt.Errorf("%w: bitmap padding bits set", errMalformed)
	}
	out := make([]bool, want)
	for i := range out {
		out[i] = packed[i/8]&(1<<(i%8)) != 0
	}
	return out, nil
}

// errUnknownStatus marks an answer whose status byte this version does not
// know.
var errUnknownStatus = errors.New("unknown status")

// decodeResponse parses an answer payload: the body of an OK answer, or the
// error a failure status maps to, quoting the remote's message (at most
// maxMessageBytes of it). It never panics.
func decodeResponse(payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("%w: %w: empty answer", ErrRemote, errMalformed)
	}
	status, body := payload[0], payload[1:]
	if status == statusOK {
		return body, nil
	}
	msg := string(body[:min(len(body), maxMessageBytes)])
	switch status {
	case statusNotFound:
		return nil, fmt.Errorf("%w: remote: %q", ErrNotFound, msg)
	case statusBusy:
		return nil, fmt.Errorf("%w: %w: %q", ErrOverloaded, errRemoteBusy, msg)
	case statusIntegrity:
		return nil, fmt.Errorf("%w: remote verified and refused: %q", ErrIntegrity, msg)
	case statusBadRequest:
		return nil, fmt.Errorf("%w: %q", ErrRejected, msg)
	case statusInternal:
		return nil, fmt.Errorf("%w: %q", ErrRemote, msg)
	}
	return nil, fmt.Errorf("%w: %w %d", ErrRemote, errUnknownStatus, status)
}

// failure builds a non-OK response: the status and a short message.
func failure(st byte, msg string) []byte {
	if len(msg) > maxMessageBytes {
		msg = msg[:maxMessageBytes]
	}
	return append([]byte{st}, msg...)
}
