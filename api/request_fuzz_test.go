package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzParseRange: the Range header of a blob GET. A range that is served
// lies inside the blob and is not empty; the header naming exactly that
// range parses back to it; anything else is ignored or unsatisfiable.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"bytes=0-0", "bytes=0-", "bytes=5-9", "bytes=-3", "bytes=-0", "bytes=9-5",
		"bytes=0-99999999999999999999", "bytes= 1 - 2 ", "bytes=1-2,4-5", "items=0-1",
		"bytes", "bytes=", "bytes=-", "bytes=18446744073709551615-",
	} {
		f.Add(s, uint64(10))
	}
	f.Add("bytes=0-", uint64(0))
	f.Add("bytes=-1", uint64(1<<63))
	f.Fuzz(func(t *testing.T, spec string, size uint64) {
		r, err := parseRange(spec, size)
		if err != nil {
			if !errors.Is(err, errUnsatisfiable) && !errors.Is(err, errIgnoredRange) {
				t.Fatalf("%q: error of unknown kind: %v", spec, err)
			}
			return
		}
		if r.n == 0 || r.off >= size || r.n > size-r.off {
			t.Fatalf("%q over %d bytes: range %d+%d is outside the blob", spec, size, r.off, r.n)
		}
		canonical := fmt.Sprintf("bytes=%d-%d", r.off, r.off+r.n-1)
		again, err := parseRange(canonical, size)
		if err != nil || again != r {
			t.Fatalf("%q gave %+v, but %q gives %+v (%v)", spec, r, canonical, again, err)
		}
	})
}

// apiFuzzMethods are the methods FuzzAPIRequest picks from.
var apiFuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions}

// FuzzAPIRequest sends whatever a client can send (method, path and query,
// body, Range and request id headers) through the server's whole handler
// over a node that never fails. Whatever the request, the server does not
// panic or answer INTERNAL, every answer carries a request id, and every
// error is the JSON envelope with a code of the taxonomy.
func FuzzAPIRequest(f *testing.F) {
	node := newFakeNode()
	blob := node.addBlob([]byte("the quick brown fox"))
	reg := prometheus.NewRegistry()
	srv, err := New(DefaultConfig(), node, reg, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	add := func(method byte, target string, body string) {
		f.Add(method, target, []byte(body), "", "")
	}
	add(0, "/health/live", "")
	add(0, "/health/ready", "")
	add(0, "/v1/status", "")
	add(0, "/v1/members", "")
	add(1, "/v1/blobs", "some bytes")
	add(0, "/v1/blobs/"+blob, "")
	add(2, "/v1/blobs/"+blob, "")
	add(0, "/v1/blobs/not-a-cid", "")
	add(0, "/v1/locate/"+blob, "")
	add(1, "/v1/namespaces", `{"name":"photos"}`)
	add(1, "/v1/namespaces", `{"name":""}`)
	add(1, "/v1/namespaces", `{"name":"a","extra":1}`)
	add(1, "/v1/namespaces", `{"name":"a"} trailing`)
	add(1, "/v1/namespaces", `{"name":7}`)
	add(1, "/v1/namespaces", `[`)
	add(1, "/v1/records", `{"namespace":"photos","key":"a/b","cid":"`+blob+`"}`)
	add(1, "/v1/records", `{"namespace":"photos","key":"a","cid":"bafy"}`)
	add(0, "/v1/records/photos/a/b", "")
	add(0, "/v1/records/photos/", "")
	add(1, "/v1/txs", `{}`)
	add(0, "/v1/validators", "")
	add(0, "/ipfs/"+blob+"?format=raw", "")
	add(3, "/v1/status", "")
	add(0, "/nowhere", "")
	add(0, "/v1/blobs/"+strings.Repeat("b", 5000), "")
	f.Add(byte(0), "/v1/blobs/"+blob, []byte{}, "bytes=2-5", "req-1")
	f.Add(byte(0), "/v1/blobs/"+blob, []byte{}, "bytes=100-", "")
	f.Add(byte(0), "/v1/blobs/"+blob, []byte{}, "bytes=-4", "\x00bad id")

	codes := map[string]bool{CodeInvalidArgument: true, CodeNotFound: true, CodeConflict: true, CodeTooLarge: true,
		CodeUnavailable: true, CodeOverloaded: true, CodeTimeout: true, CodeInternal: true}
	f.Fuzz(func(t *testing.T, method byte, target string, body []byte, rangeHdr, reqID string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || u.Host != "" || u.Scheme != "" {
			return // net/http answers such a request line itself
		}
		r, err := http.NewRequest(apiFuzzMethods[int(method)%len(apiFuzzMethods)], "http://127.0.0.1"+u.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return
		}
		if rangeHdr != "" {
			r.Header.Set("Range", rangeHdr)
		}
		if reqID != "" {
			r.Header.Set(requestIDHeader, reqID)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		if res.Header.Get(requestIDHeader) == "" {
			t.Fatalf("%s %s: answer %d without a request id", r.Method, shortPath(target), res.StatusCode)
		}
		if res.StatusCode == http.StatusInternalServerError {
			t.Fatalf("%s %s: INTERNAL from a node that never fails: %s", r.Method, shortPath(target), w.Body.String())
		}
		if res.StatusCode < 400 || r.Method == http.MethodHead {
			return
		}
		var env errorEnvelope
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatalf("%s %s: error answer %d is not the JSON envelope: %q", r.Method, shortPath(target), res.StatusCode, w.Body.String())
		}
		if !codes[env.Error.Code] || env.Error.Message == "" {
			t.Fatalf("%s %s: error answer %d with code %q, message %q", r.Method, shortPath(target), res.StatusCode, env.Error.Code, env.Error.Message)
		}
		if env.Error.RequestID != res.Header.Get(requestIDHeader) {
			t.Fatalf("%s %s: envelope names request %q, header %q", r.Method, shortPath(target), env.Error.RequestID, res.Header.Get(requestIDHeader))
		}
		if n := len(env.Error.Message); n > 4096 {
			t.Fatalf("%s %s: an error message of %d bytes", r.Method, shortPath(target), n)
		}
	})
}
