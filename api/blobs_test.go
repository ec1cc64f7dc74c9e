package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	tu "github.com/xnode/xnode/internal/testutil"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// opaque hides a reader's type so the client cannot learn its size and
// must send the body chunked.
type opaque struct{ r io.Reader }

func (o opaque) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestPutGetRoundTrip(t *testing.T) {
	h := newHarness(t, nil)
	for _, tc := range []struct {
		name string
		body func([]byte) io.Reader
	}{
		{"sized", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		{"chunked", func(b []byte) io.Reader { return opaque{bytes.NewReader(b)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(3<<20+17, uint64(len(tc.name)))
			res, err := h.client.Put(t.Context(), tc.body(data))
			if err != nil {
				t.Fatalf("Put: %v", err)
			}
			if res.Size != uint64(len(data)) || res.CID == "" || res.Replicas != 1 {
				t.Fatalf("put result %+v", res)
			}
			var got bytes.Buffer
			n, err := h.client.Get(t.Context(), res.CID, &got)
			if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("Get: n=%d err=%v equal=%v", n, err, bytes.Equal(got.Bytes(), data))
			}
			size, err := h.client.Head(t.Context(), res.CID)
			if err != nil || size != int64(len(data)) {
				t.Fatalf("Head: %d %v", size, err)
			}
		})
	}

	// The raw answer's shape and headers.
	data := []byte("hello, xnode")
	resp, body := h.do("POST", "/v1/blobs", bytes.NewReader(data), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	requireKeys(t, m, "cid", "size", "chunks", "replicas")
	c := m["cid"].(string)
	for _, method := range []string{"GET", "HEAD"} {
		resp, body = h.do(method, "/v1/blobs/"+c, nil, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", method, resp.StatusCode)
		}
		for k, v := range map[string]string{
			"Content-Length": strconv.Itoa(len(data)),
			"Accept-Ranges":  "bytes",
			"ETag":           `"` + c + `"`,
			"Content-Type":   "application/octet-stream",
		} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s %s: %q, want %q", method, k, got, v)
			}
		}
		want := data
		if method == "HEAD" {
			want = nil
		}
		if !bytes.Equal(body, want) {
			t.Errorf("%s body %q", method, body)
		}
	}
	resp, _ = h.do("GET", "/v1/blobs/"+c, nil, map[string]string{"If-None-Match": `"` + c + `"`})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}

	// An empty blob round-trips too.
	res, err := h.client.Put(t.Context(), bytes.NewReader(nil))
	if err != nil || res.Size != 0 {
		t.Fatalf("empty put: %+v %v", res, err)
	}
	var got bytes.Buffer
	if n, err := h.client.Get(t.Context(), res.CID, &got); err != nil || n != 0 {
		t.Fatalf("empty get: %d %v", n, err)
	}
}

func TestRange(t *testing.T) {
	h := newHarness(t, nil)
	data := randomBytes(100_000, 7)
	c := h.node.addBlob(data)
	size := len(data)
	cases := []struct {
		spec         string
		status       int
		off, n       int
		contentRange string
	}{
		{"bytes=0-9", 206, 0, 10, "bytes 0-9/100000"},
		{"bytes=99990-", 206, 99990, 10, "bytes 99990-99999/100000"},
		{"bytes=-5", 206, size - 5, 5, "bytes 99995-99999/100000"},
		{"bytes=-200000", 206, 0, size, "bytes 0-99999/100000"},
		{"bytes=50000-999999", 206, 50000, 50000, "bytes 50000-99999/100000"},
		{"bytes=40000-80000", 206, 40000, 40001, "bytes 40000-80000/100000"}, // more than the first chunk
		{"bytes=0-1,5-6", 200, 0, size, ""},                                  // several ranges: ignored
		{"items=0-1", 200, 0, size, ""},                                      // another unit: ignored
		{"bytes=100000-", 416, 0, 0, "bytes */100000"},
		{"bytes=5-2", 416, 0, 0, "bytes */100000"},
		{"bytes=-0", 416, 0, 0, "bytes */100000"},
		{"bytes=x-y", 416, 0, 0, "bytes */100000"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			resp, body := h.do("GET", "/v1/blobs/"+c, nil, map[string]string{"Range": tc.spec})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
			}
			if tc.status == 416 {
				wantError(t, resp, body, 416, CodeInvalidArgument)
				return
			}
			if !bytes.Equal(body, data[tc.off:tc.off+tc.n]) {
				t.Errorf("body: %d bytes, want %d from %d", len(body), tc.n, tc.off)
			}
		})
	}

	// If-Range with another validator gets the whole blob.
	resp, body := h.do("GET", "/v1/blobs/"+c, nil, map[string]string{"Range": "bytes=0-9", "If-Range": `"other"`})
	if resp.StatusCode != 200 || len(body) != size {
		t.Errorf("If-Range mismatch: %d, %d bytes", resp.StatusCode, len(body))
	}

	// The client's ranges.
	for _, tc := range []struct{ off, n, want int64 }{{0, 10, 10}, {99_000, -1, 1000}, {500, 70_000, 70_000}} {
		var got bytes.Buffer
		n, err := h.client.GetRange(t.Context(), c, tc.off, tc.n, &got)
		if err != nil || n != tc.want || !bytes.Equal(got.Bytes(), data[tc.off:tc.off+tc.want]) {
			t.Errorf("GetRange(%d, %d): n=%d err=%v", tc.off, tc.n, n, err)
		}
	}
	if _, err := h.client.GetRange(t.Context(), c, int64(size), 1, io.Discard); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("GetRange past the end: %v", err)
	}

	empty := h.node.addBlob(nil)
	resp, body = h.do("GET", "/v1/blobs/"+empty, nil, map[string]string{"Range": "bytes=0-"})
	wantError(t, resp, body, 416, CodeInvalidArgument)
	if got := resp.Header.Get("Content-Range"); got != "bytes */0" {
		t.Errorf("empty blob Content-Range %q", got)
	}
}

func TestParseRange(t *testing.T) {
	// Edges the HTTP table does not reach.
	if _, err := parseRange("bytes=0-", 0); !errors.Is(err, errUnsatisfiable) {
		t.Errorf("empty blob: %v", err)
	}
	if r, err := parseRange("bytes = 3 - 4", 10); err != nil || r != (byteRange{3, 2}) {
		t.Errorf("spaces: %+v %v", r, err)
	}
	if _, err := parseRange("bytes=18446744073709551616-", 10); !errors.Is(err, errUnsatisfiable) {
		t.Errorf("overflow: %v", err)
	}
	if r, err := parseRange("bytes=-18446744073709551615", 10); err != nil || r != (byteRange{0, 10}) {
		t.Errorf("huge suffix: %+v %v", r, err)
	}
}

func TestBlobBadCIDAndUnknown(t *testing.T) {
	h := newHarness(t, nil)
	for _, bad := range []string{"nope", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG" /* CIDv0 */} {
		resp, body := h.do("GET", "/v1/blobs/"+bad, nil, nil)
		wantError(t, resp, body, 400, CodeInvalidArgument)
	}
	resp, body := h.do("GET", "/v1/blobs/"+someCID("unknown"), nil, nil)
	wantError(t, resp, body, 404, CodeNotFound)

	resp, body = h.do("HEAD", "/v1/blobs/"+someCID("unknown"), nil, nil)
	if resp.StatusCode != 404 || len(body) != 0 {
		t.Errorf("HEAD unknown: %d %q", resp.StatusCode, body)
	}
	if _, err := h.client.Head(t.Context(), someCID("unknown")); !errors.Is(err, xnode.ErrNotFound) {
		t.Errorf("client Head: %v", err)
	}
	if _, err := h.client.Get(t.Context(), "nope", io.Discard); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("client Get bad CID: %v", err)
	}
	if _, err := h.client.Get(t.Context(), "", io.Discard); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("client Get empty CID: %v", err)
	}
}

func TestPutOverLimit(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	acked := func() float64 {
		return testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues("POST /v1/blobs", "POST", "201"))
	}

	// Exactly at the limit is fine.
	if _, err := h.client.Put(t.Context(), opaque{bytes.NewReader(make([]byte, 1024))}); err != nil {
		t.Fatalf("put at the limit: %v", err)
	}

	// Size unknown up front: the limit trips while the node streams.
	_, err := h.client.Put(t.Context(), opaque{bytes.NewReader(randomBytes(8192, 1))})
	var ae *Error
	if !errors.As(err, &ae) || ae.HTTPStatus != 413 || ae.Code != CodeTooLarge || !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("chunked over the limit: %v", err)
	}
	calls, errs, _ := h.node.putState()
	if calls != 2 || len(errs) != 1 {
		t.Fatalf("node saw %d puts, %d failed; want 2 and 1", calls, len(errs))
	}
	var mbe *http.MaxBytesError
	if !errors.As(errs[0], &mbe) {
		t.Errorf("node's read error %v, want *http.MaxBytesError", errs[0])
	}

	// Declared size over the limit: refused before the node sees anything.
	resp, body := h.do("POST", "/v1/blobs", bytes.NewReader(make([]byte, 4096)), nil)
	wantError(t, resp, body, 413, CodeTooLarge)
	_, err = h.client.Put(t.Context(), bytes.NewReader(make([]byte, 1<<20)))
	if !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("sized over the limit: %v", err)
	}
	if calls, _, _ := h.node.putState(); calls != 2 {
		t.Errorf("node saw %d puts, want 2 (declared sizes refused first)", calls)
	}
	if h.node.storedBlobs() != 1 || acked() != 1 {
		t.Errorf("stored %d blobs, acknowledged %v; want only the one at the limit", h.node.storedBlobs(), acked())
	}
}

// A node that swallows a read error and claims success is not believed.
func TestPutBodyErrorNeverAcknowledged(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 100 })
	lying := &lyingNode{fakeNode: h.node}
	srv, err := New(h.srv.cfg, lying, h.reg, nil, nil)
	if err == nil {
		t.Fatal("nil registerer accepted")
	}
	srv, err = New(h.srv.cfg, lying, h.reg, noopRegisterer{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, err := NewClient(srv.Addr(), h.hc) // a bare host:port means http
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Put(t.Context(), opaque{bytes.NewReader(make([]byte, 1000))})
	if !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("put through a lying node: %v", err)
	}
	// Stopping early and claiming success is not believed either.
	lying.stopAfter = 10
	_, err = c.Put(t.Context(), opaque{bytes.NewReader(make([]byte, 50))})
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeInternal {
		t.Fatalf("early stop: %v", err)
	}
}

type lyingNode struct {
	*fakeNode
	stopAfter int64
}

func (l *lyingNode) PutBlob(ctx context.Context, r io.Reader) (PutResult, error) {
	if l.stopAfter > 0 {
		_, _ = io.CopyN(io.Discard, r, l.stopAfter)
	} else {
		_, _ = io.Copy(io.Discard, r) // the error is ignored: the lie
	}
	return PutResult{CID: someCID("lie"), Size: 1}, nil
}

func TestPutClientDisconnects(t *testing.T) {
	h := newHarness(t, nil)
	conn, err := net.Dial("tcp", h.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/blobs HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\n\r\n")
	if _, err := conn.Write(make([]byte, 20000)); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 5*time.Second, func() bool {
		_, _, read := h.node.putState()
		return read >= 20000
	}, "node never received the first bytes")
	conn.Close()

	refused := func() float64 {
		return testutil.ToFloat64(h.srv.metrics.requests.WithLabelValues("POST /v1/blobs", "POST", "400"))
	}
	tu.Eventually(t, 5*time.Second, func() bool { return refused() == 1 }, "upload cut short was not answered with 400")
	calls, errs, _ := h.node.putState()
	if calls != 1 || len(errs) != 1 || !errors.Is(errs[0], io.ErrUnexpectedEOF) {
		t.Fatalf("node: %d calls, errors %v; want one unexpected EOF", calls, errs)
	}
	if h.node.storedBlobs() != 0 {
		t.Error("a cut-short upload was stored")
	}
}

func TestIntegrityBeforeHeaders(t *testing.T) {
	h := newHarness(t, nil)
	c := h.node.addBlob(randomBytes(50_000, 3))
	h.node.corruptAt[c] = 100 // inside the first chunk: caught before headers
	resp, body := h.do("GET", "/v1/blobs/"+c, nil, nil)
	e := wantError(t, resp, body, 500, CodeInternal)
	if !strings.HasPrefix(e.Message, "integrity check failed") {
		t.Errorf("message %q", e.Message)
	}
	for _, k := range []string{"Content-Range", "ETag", "Cache-Control"} {
		if v := resp.Header.Get(k); v != "" {
			t.Errorf("error answer carries %s: %q", k, v)
		}
	}
	_, err := h.client.Get(t.Context(), c, io.Discard)
	if !errors.Is(err, xnode.ErrIntegrity) {
		t.Errorf("client: %v", err)
	}
}

func TestIntegrityMidStream(t *testing.T) {
	h := newHarness(t, nil)
	data := randomBytes(1<<20, 4)
	c := h.node.addBlob(data)
	h.node.corruptAt[c] = 512 << 10

	resp, err := h.hc.Get(h.base + "/v1/blobs/" + c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("status %d, read err %v after %d bytes: a broken stream must not end cleanly", resp.StatusCode, err, len(got))
	}
	if len(got) > 512<<10 || !bytes.Equal(got, data[:len(got)]) {
		t.Errorf("got %d bytes, some not the blob's", len(got))
	}

	var buf bytes.Buffer
	n, err := h.client.Get(t.Context(), c, &buf)
	if err == nil || n >= int64(len(data)) {
		t.Fatalf("client Get: n=%d err=%v", n, err)
	}
	// The server keeps serving.
	if _, err := h.client.Status(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// writerToSource is a blob body that writes itself out: data, then err.
type writerToSource struct {
	data []byte
	err  error
}

func (s *writerToSource) Read([]byte) (int, error) {
	return 0, errors.New("Read called; WriteTo expected")
}

func (s *writerToSource) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(s.data)
	if err != nil {
		return int64(n), err
	}
	return int64(n), s.err
}

// failingWriter accepts max bytes, then fails like a client gone away.
type failingWriter struct {
	bytes.Buffer
	max int
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if room := w.max - w.Len(); len(p) > room {
		w.Buffer.Write(p[:room])
		return room, errors.New("client went away")
	}
	return w.Buffer.Write(p)
}

// TestCopyBody checks that a blob body's own failures and the client's are
// told apart, on both the WriterTo path and the Read path, and that a body
// ending short is an error.
func TestCopyBody(t *testing.T) {
	blobErr := errors.New("block unavailable")
	for _, tc := range []struct {
		name     string
		src      func() io.Reader
		dst      *failingWriter
		want     int64
		copied   int64
		readErr  bool
		wantFail bool
	}{
		{"writerTo whole", func() io.Reader { return &writerToSource{data: []byte("abcdef")} }, &failingWriter{max: 100}, 6, 6, false, false},
		{"writerTo blob fails", func() io.Reader { return &writerToSource{data: []byte("abc"), err: blobErr} }, &failingWriter{max: 100}, 6, 3, true, true},
		{"writerTo short", func() io.Reader { return &writerToSource{data: []byte("abc")} }, &failingWriter{max: 100}, 6, 3, true, true},
		{"writerTo client fails", func() io.Reader { return &writerToSource{data: []byte("abcdef")} }, &failingWriter{max: 2}, 6, 2, false, true},
		{"reader whole", func() io.Reader { return strings.NewReader("abcdef") }, &failingWriter{max: 100}, 6, 6, false, false},
		{"reader short", func() io.Reader { return strings.NewReader("abc") }, &failingWriter{max: 100}, 6, 3, true, true},
		{"reader client fails", func() io.Reader { return strings.NewReader("abcdef") }, &failingWriter{max: 2}, 6, 2, false, true},
	} {
		copied, readErr, err := copyBody(tc.dst, tc.src(), tc.want)
		if copied != tc.copied || readErr != tc.readErr || (err != nil) != tc.wantFail {
			t.Errorf("%s: copied %d, readErr %v, err %v; want %d, %v, failure %v", tc.name, copied, readErr, err, tc.copied, tc.readErr, tc.wantFail)
		}
	}
}
