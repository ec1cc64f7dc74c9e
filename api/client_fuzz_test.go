package api

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/xnode/xnode"
)

// FuzzClientError: the CLI reads error answers from whatever --api points
// at (a node, a proxy, something else). Whatever the status, body and
// headers, the client's error is an *Error or ErrNotAPI, maps to at most
// one error kind, never carries a negative Retry-After, and a wait the
// server asked for is kept.
func FuzzClientError(f *testing.F) {
	env := func(code, msg string) []byte {
		return []byte(`{"error":{"code":"` + code + `","message":"` + msg + `","request_id":"r1"}}`)
	}
	f.Add(uint16(404), env(CodeNotFound, "no such blob"), "", "r1")
	f.Add(uint16(503), env(CodeOverloaded, "busy"), "1", "r2")
	f.Add(uint16(503), []byte("<html>bad gateway</html>"), "30", "")
	f.Add(uint16(500), env(CodeInternal, integrityMessage+" block"), "", "r3")
	f.Add(uint16(404), []byte("404 page not found"), "", "")
	f.Add(uint16(413), []byte(""), "", "x")
	f.Add(uint16(503), []byte("{}"), "99999999999999", "")
	f.Add(uint16(400), env("SOMETHING_NEW", "?"), "-5", "")
	f.Add(uint16(429), []byte(strings.Repeat("x", 1000)), "2", "")
	c, err := NewClient("http://127.0.0.1:1", nil)
	if err != nil {
		f.Fatal(err)
	}
	kinds := []error{xnode.ErrInvalidArgument, xnode.ErrNotFound, xnode.ErrConflict, xnode.ErrTooLarge,
		xnode.ErrUnavailable, xnode.ErrOverloaded, xnode.ErrTimeout, xnode.ErrIntegrity}
	f.Fuzz(func(t *testing.T, status uint16, body []byte, retryAfter, reqID string) {
		code := 400 + int(status)%200
		resp := &http.Response{
			StatusCode: code,
			Header:     http.Header{},
			Body:       io.NopCloser(bytes.NewReader(body)),
			Request:    &http.Request{URL: &url.URL{Path: "/v1/status"}},
		}
		resp.Header.Set("Retry-After", retryAfter)
		resp.Header.Set(requestIDHeader, reqID)
		err := c.errorFrom(resp)
		if err == nil {
			t.Fatalf("%d answer gave no error", code)
		}
		if errors.Is(err, ErrNotAPI) {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%d answer gave %T: %v", code, err, err)
		}
		if e.HTTPStatus != code {
			t.Fatalf("status %d recorded as %d", code, e.HTTPStatus)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("Retry-After %q read as %v", retryAfter, e.RetryAfter)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(retryAfter)); err == nil && n > 0 && e.RetryAfter <= 0 {
			t.Fatalf("Retry-After %q lost", retryAfter)
		}
		matched := 0
		for _, k := range kinds {
			if errors.Is(err, k) {
				matched++
			}
		}
		if matched > 1 {
			t.Fatalf("an error of %d kinds: %v", matched, err)
		}
	})
}
