package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"
)

// requestIDHeader names the request on both sides and in the node's log.
const requestIDHeader = "X-Request-Id"

type ctxKey struct{}

// RequestID returns the id of the request ctx belongs to, or "". The node
// may log it so a user's report can be matched to the node's log.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// requestID returns the request's own X-Request-Id when it is sane (1 to 128
// printable ASCII characters, no spaces), else a fresh random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); saneRequestID(id) {
		return id
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func saneRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// serveHTTP is the root handler. Around the mux it, in order: names the
// request (X-Request-Id), measures and logs it, recovers a panic into a
// 500, sheds load past MaxInFlight, and answers unknown routes and methods
// with the JSON error shape.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := requestID(r)
	w.Header().Set(requestIDHeader, id)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, id))

	h, route := s.mux.Handler(r)
	matched := route != ""
	if !matched {
		route = "unmatched"
	}
	sw := &statusWriter{ResponseWriter: w}
	defer func() {
		// Runs during an abort panic too, so aborted streams are counted
		// and logged before the panic goes on to net/http.
		p := recover()
		code := sw.status
		if code == 0 {
			code = http.StatusOK
			if p != nil {
				code = http.StatusInternalServerError
			}
		}
		s.metrics.observe(route, r.Method, code, time.Since(start))
		s.accessLog(r, route, id, code, sw.written, start, p != nil)
		if p != nil {
			panic(p)
		}
	}()
	defer s.recoverPanic(sw, r, route)

	if !matched {
		s.serveUnmatched(sw, r, h)
		return
	}
	if !unlimited[route] {
		select {
		case s.inFlight <- struct{}{}:
			defer func() { <-s.inFlight }()
		default:
			w.Header().Set("Retry-After", "1")
			s.writeJSONError(sw, r, http.StatusServiceUnavailable, CodeOverloaded,
				fmt.Sprintf("node is serving %d requests, its limit; retry shortly", cap(s.inFlight)))
			return
		}
	}
	s.mux.ServeHTTP(sw, r)
}

// recoverPanic turns a handler's panic into a 500 INTERNAL answer and keeps
// the server running. A panic after the headers went out cannot change the
// status, so the connection is aborted instead: the client sees a broken
// response, never a truncated one passed off as success.
func (s *Server) recoverPanic(w *statusWriter, r *http.Request, route string) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	s.log.Error("api handler panicked", "request_id", RequestID(r.Context()), "route", route,
		"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	if w.wroteHeader() {
		panic(http.ErrAbortHandler)
	}
	s.writeJSONError(w, r, http.StatusInternalServerError, CodeInternal,
		"internal error; see the node's log for this request id")
}

// shortPath is a request path cut for an error message: a path may be as
// long as the header limit, and the answer need not echo it whole.
func shortPath(p string) string {
	if len(p) > 200 {
		return fmt.Sprintf("%s... (%d bytes)", p[:128], len(p))
	}
	return p
}

// serveUnmatched runs the mux's own 404/405/redirect handler h into a
// recorder and answers 404 and 405 with the JSON error shape. 405 is not in
// the taxonomy; it carries INVALID_ARGUMENT and the Allow header.
func (s *Server) serveUnmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	rec := &headerRecorder{header: make(http.Header)}
	h.ServeHTTP(rec, r)
	switch rec.status {
	case http.StatusMethodNotAllowed:
		allow := rec.header.Get("Allow")
		w.Header().Set("Allow", allow)
		s.writeJSONError(w, r, http.StatusMethodNotAllowed, CodeInvalidArgument,
			fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, shortPath(r.URL.Path), allow))
	case http.StatusNotFound, 0:
		s.writeJSONError(w, r, http.StatusNotFound, CodeNotFound,
			fmt.Sprintf("no route %s %s", r.Method, shortPath(r.URL.Path)))
	default: // a redirect to the cleaned path: pass it on without a body
		for k, v := range rec.header {
			if k != "Content-Type" && k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.status)
	}
}

func (s *Server) accessLog(r *http.Request, route, id string, code int, n int64, start time.Time, aborted bool) {
	s.log.Debug("api request", "request_id", id, "method", r.Method, "route", route,
		"path", r.URL.Path, "code", code, "bytes", n, "aborted", aborted,
		"duration", time.Since(start), "remote", r.RemoteAddr)
}

// statusWriter remembers the status and counts the body bytes.
type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) wroteHeader() bool { return w.status != 0 }

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// headerRecorder keeps a handler's status and headers and drops its body.
type headerRecorder struct {
	header http.Header
	status int
}

func (r *headerRecorder) Header() http.Header { return r.header }
func (r *headerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *headerRecorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return len(p), nil
}

// bounded gives a non-streaming handler Config.RequestTimeout.
func (s *Server) bounded(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	})
}

// methodLabel bounds the method label to the methods HTTP defines.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
