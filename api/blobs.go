package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
)

// firstChunk is how much of a blob is read before the headers go out, so an
// early failure (missing or corrupt first block) still gets a JSON answer.
const firstChunk = 32 << 10

// handlePutBlob streams the body into node.PutBlob. The body is capped at
// MaxBodyBytes (rejected up front when Content-Length says so). Whatever
// PutBlob answers, a body that failed to read is never acknowledged.
func (s *Server) handlePutBlob(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > s.cfg.MaxBodyBytes {
		s.writeError(w, r, fmt.Errorf("api: %w: Content-Length %d over the limit of %d bytes",
			xnode.ErrTooLarge, r.ContentLength, s.cfg.MaxBodyBytes))
		return
	}
	body := &trackedReader{r: http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)}
	res, err := s.node.PutBlob(r.Context(), body)
	if berr := body.failure(); berr != nil {
		// The body is the root cause whatever the node made of it.
		var maxBytes *http.MaxBytesError
		if !errors.As(berr, &maxBytes) {
			berr = fmt.Errorf("api: %w: reading request body: %v", xnode.ErrInvalidArgument, berr)
		}
		if err == nil {
			s.log.Error("api: node acknowledged a put whose body failed", "request_id", RequestID(r.Context()), "cid", res.CID)
		}
		s.writeError(w, r, berr)
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !body.sawEOF() {
		// The node stopped reading early yet claims success: a partial
		// blob must not be acknowledged.
		var one [1]byte
		if n, _ := body.Read(one[:]); n > 0 || body.failure() != nil {
			s.writeError(w, r, fmt.Errorf("api: node acknowledged %s before reading the whole body", res.CID))
			return
		}
	}
	s.writeJSON(w, r, http.StatusCreated, res)
}

// trackedReader remembers the first read error other than io.EOF and
// whether EOF was reached. The node may read it from its own goroutines.
type trackedReader struct {
	r   io.Reader
	mu  sync.Mutex
	err error
	eof bool
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil {
		t.mu.Lock()
		if err == io.EOF {
			t.eof = true
		} else if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
	}
	return n, err
}

func (t *trackedReader) failure() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func (t *trackedReader) sawEOF() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.eof
}

// handleGetBlob serves GET and HEAD /v1/blobs/{cid}, with single byte
// ranges (see doc.go for the exact rules).
func (s *Server) handleGetBlob(w http.ResponseWriter, r *http.Request) {
	c, err := parseCID(r.PathValue("cid"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.serveFile(w, r, c, false)
}

// serveFile answers GET and HEAD of the file whose root is c. sniff sets the
// Content-Type from the file's first bytes (the gateway's plain files, for a
// browser); otherwise it is application/octet-stream (the blob API).
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, c cid.Cid, sniff bool) {
	blob, err := s.node.OpenBlob(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	size := blob.Size()
	etag := `"` + c.String() + `"`
	h := w.Header()
	h.Set("Accept-Ranges", "bytes")
	fail := func(err error) { // an error answer describes no representation
		h.Del("Content-Range")
		h.Del("ETag")
		h.Del("Cache-Control")
		s.writeError(w, r, err)
	}
	h.Set("ETag", etag)
	// A CID names its bytes forever.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	if etagListMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}

	off, n, status := uint64(0), size, http.StatusOK
	spec := r.Header.Get("Range")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		spec = "" // the client holds other bytes: send the whole blob
	}
	if spec != "" {
		rng, err := parseRange(spec, size)
		switch {
		case errors.Is(err, errUnsatisfiable):
			h.Del("Cache-Control")
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			s.writeJSONError(w, r, http.StatusRequestedRangeNotSatisfiable, CodeInvalidArgument,
				fmt.Sprintf("range %q not satisfiable for a blob of %d bytes", spec, size))
			return
		case err != nil: // ignored: another unit or several ranges
		default:
			off, n, status = rng.off, rng.n, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, size))
		}
	}
	h.Set("Content-Type", "application/octet-stream")
	if sniff && size > 0 && (r.Method == http.MethodHead || n == 0 || off > 0) {
		// The type of the whole file, whatever part is asked for.
		ct, err := sniffBlob(r, blob, size)
		if err != nil {
			fail(err)
			return
		}
		h.Set("Content-Type", ct)
	}
	if r.Method == http.MethodHead || n == 0 {
		h.Set("Content-Length", strconv.FormatUint(n, 10))
		w.WriteHeader(status)
		return
	}

	rc, err := blob.Range(r.Context(), off, n)
	if err != nil {
		fail(err)
		return
	}
	defer rc.Close()
	buf := make([]byte, min(n, firstChunk))
	if k, err := io.ReadFull(rc, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("api: blob %s: range %d+%d ended after %d bytes", c, off, n, k)
		}
		fail(err)
		return
	}
	if sniff && off == 0 {
		h.Set("Content-Type", http.DetectContentType(buf))
	}
	h.Set("Content-Length", strconv.FormatUint(n, 10))
	w.WriteHeader(status)
	if _, err := w.Write(buf); err != nil {
		return // the client went away
	}
	copied, readErr, err := copyBody(w, rc, int64(n)-int64(len(buf)))
	if err == nil {
		return
	}
	if readErr {
		s.log.Error("api: blob failed mid-stream; aborting the response",
			"request_id", RequestID(r.Context()), "cid", c.String(),
			"sent", int64(len(buf))+copied, "want", n, "err", err)
	}
	// Headers promised n bytes: end the connection so the client sees a
	// broken response rather than a short one.
	panic(http.ErrAbortHandler)
}

// sniffBlob returns the Content-Type of the first bytes of blob.
func sniffBlob(r *http.Request, blob Blob, size uint64) (string, error) {
	rc, err := blob.Range(r.Context(), 0, min(size, 512))
	if err != nil {
		return "", err
	}
	defer rc.Close()
	head, err := io.ReadAll(rc)
	if err != nil {
		return "", err
	}
	return http.DetectContentType(head), nil
}

// copyBody sends the next want bytes of rc to w. readErr says a failure came
// from rc (the blob), not from w (the client). When rc can write itself out
// (io.WriterTo, as the node's blob ranges do), it does, without the copy
// through a buffer that reading it costs.
func copyBody(w io.Writer, rc io.Reader, want int64) (copied int64, readErr bool, err error) {
	if wt, ok := rc.(io.WriterTo); ok {
		cw := &errWriter{w: w}
		copied, err = wt.WriteTo(cw)
		switch {
		case err == nil && copied != want:
			return copied, true, fmt.Errorf("api: blob sent %d bytes, want %d", copied, want)
		case err != nil:
			return copied, cw.err == nil, err
		}
		return copied, false, nil
	}
	src := &trackedReader{r: rc}
	copied, err = io.CopyN(w, src, want)
	return copied, err != nil && (src.failure() != nil || errors.Is(err, io.EOF)), err
}

// errWriter remembers the first error of w.
type errWriter struct {
	w   io.Writer
	err error
}

func (c *errWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// etagListMatches reports whether an If-None-Match value names etag.
func etagListMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

type byteRange struct{ off, n uint64 }

var (
	errUnsatisfiable = errors.New("range not satisfiable")
	errIgnoredRange  = errors.New("range ignored")
)

// parseRange reads a Range header for a blob of size bytes. One range of
// bytes is answered; another unit or a list of several ranges is ignored
// (errIgnoredRange: send the whole blob). A malformed range, a range that
// starts past the end, or any range of an empty blob is errUnsatisfiable.
func parseRange(spec string, size uint64) (byteRange, error) {
	unit, set, ok := strings.Cut(spec, "=")
	if !ok || strings.TrimSpace(unit) != "bytes" {
		return byteRange{}, errIgnoredRange
	}
	set = strings.TrimSpace(set)
	if strings.Contains(set, ",") {
		return byteRange{}, errIgnoredRange
	}
	first, last, ok := strings.Cut(set, "-")
	if !ok || size == 0 {
		return byteRange{}, errUnsatisfiable
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" { // suffix: the last n bytes
		n, err := strconv.ParseUint(last, 10, 64)
		if err != nil || n == 0 {
			return byteRange{}, errUnsatisfiable
		}
		n = min(n, size)
		return byteRange{off: size - n, n: n}, nil
	}
	a, err := strconv.ParseUint(first, 10, 64)
	if err != nil || a >= size {
		return byteRange{}, errUnsatisfiable
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseUint(last, 10, 64); err != nil || b < a {
			return byteRange{}, errUnsatisfiable
		}
		b = min(b, size-1)
	}
	return byteRange{off: a, n: b - a + 1}, nil
}
