package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/testutil"
)

// TestMain checks that no test leaves a goroutine behind, except net/http's
// wait before closing a connection whose request body it did not read to
// the end (an upload cut short, one over the limit): it closes the write
// side, sleeps a fixed 500 ms so the client can read the answer, and only
// then closes. Server.Close cannot cut that sleep short, and goleak gives up
// sooner, so a run ending with such a test reported a leak.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"))
}

// harness is a real Server on 127.0.0.1:0 over a fakeNode, with a raw HTTP
// client and an api.Client pointing at it.
type harness struct {
	t      testing.TB
	node   *fakeNode
	srv    *Server
	reg    *prometheus.Registry
	base   string
	hc     *http.Client
	client *Client
}

func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	h := &harness{t: t, node: newFakeNode(), reg: prometheus.NewRegistry()}
	srv, err := New(cfg, h.node, h.reg, h.reg, testutil.Logger(t.Name()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.srv = srv
	h.base = "http://" + srv.Addr()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	h.hc = &http.Client{Transport: tr}
	h.client, err = NewClient(h.base, h.hc)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return h
}

// do sends a raw request and returns the response with its body read.
func (h *harness) do(method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	h.t.Helper()
	req, err := http.NewRequestWithContext(h.t.Context(), method, h.base+path, body)
	if err != nil {
		h.t.Fatalf("request: %v", err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	if resp.Header.Get(requestIDHeader) == "" {
		h.t.Errorf("%s %s: no X-Request-Id", method, path)
	}
	return resp, b
}

// wantError checks an error answer's status, code and envelope, and that
// its request id is the header's.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) ErrorDetail {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var env struct {
		Error *ErrorDetail `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Fatalf("body %s: not the error envelope (%v)", body, err)
	}
	if env.Error.Code != code {
		t.Errorf("code %q, want %q (message %q)", env.Error.Code, code, env.Error.Message)
	}
	if env.Error.Message == "" {
		t.Error("empty error message")
	}
	if id := resp.Header.Get(requestIDHeader); env.Error.RequestID != id {
		t.Errorf("request_id %q, header %q", env.Error.RequestID, id)
	}
	return *env.Error
}

func jsonKeys(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return m
}

func requireKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %v", k, m)
		}
	}
}

func someCID(s string) string { return block.Sum(block.CodecRaw, []byte(s)).String() }

func TestStatusShape(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do("GET", "/v1/status", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	requireKeys(t, m, "peer_id", "addrs", "api", "chain_id", "height", "members", "storage", "version", "replication", "catching_up")
	storage, _ := m["storage"].(map[string]any)
	requireKeys(t, storage, "blocks", "bytes")
	if m["chain_id"] != "xnode-test" || m["height"] != float64(42) {
		t.Errorf("wrong values: %v", m)
	}

	st, err := h.client.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.PeerID != "12D3KooWFake" || st.Storage.Bytes != 7<<20 || len(st.Addrs) != 1 {
		t.Errorf("client status %+v", st)
	}
}

func TestMembersShape(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do("GET", "/v1/members", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var rows []map[string]any
	if err := json.Unmarshal(body, &rows); err != nil || len(rows) != 1 {
		t.Fatalf("members body %s (%v)", body, err)
	}
	requireKeys(t, rows[0], "peer_id", "state", "addrs", "api", "capacity", "used", "last_seen", "phi", "self")
	ms, err := h.client.Members(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || !ms[0].LastSeen.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) || !ms[0].Self {
		t.Errorf("client members %+v", ms)
	}

	// An empty table is [], not null.
	h.node.mu.Lock()
	h.node.members = nil
	h.node.mu.Unlock()
	_, body = h.do("GET", "/v1/members", nil, nil)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("empty members: %s", body)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.client.Live(t.Context()); err != nil {
		t.Fatalf("live: %v", err)
	}
	resp, body := h.do("GET", "/health/ready", nil, nil)
	if resp.StatusCode != 200 || !jsonKeys(t, body)["ready"].(bool) {
		t.Fatalf("ready: %d %s", resp.StatusCode, body)
	}
	checks, ok, err := h.client.Ready(t.Context())
	if err != nil || !ok || len(checks) != 2 {
		t.Fatalf("client ready: %v %v %v", checks, ok, err)
	}

	h.node.mu.Lock()
	h.node.checks[1] = Check{Name: "membership", OK: false, Detail: "not joined"}
	h.node.mu.Unlock()
	resp, body = h.do("GET", "/health/ready", nil, nil)
	e := wantError(t, resp, body, http.StatusServiceUnavailable, CodeUnavailable)
	if !strings.Contains(e.Message, "membership: not joined") {
		t.Errorf("message %q does not name the failing check", e.Message)
	}
	var rd Readiness
	if err := json.Unmarshal(body, &rd); err != nil || rd.Ready || len(rd.Checks) != 2 || rd.Checks[1].OK {
		t.Errorf("not-ready body %s (%v)", body, err)
	}
	checks, ok, err = h.client.Ready(t.Context())
	if err != nil || ok || len(checks) != 2 || checks[1].Detail != "not joined" {
		t.Fatalf("client not ready: %v %v %v", checks, ok, err)
	}
}

func TestLocate(t *testing.T) {
	h := newHarness(t, nil)
	c := h.node.addBlob([]byte("hello"))
	resp, body := h.do("GET", "/v1/locate/"+c, nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	requireKeys(t, m, "cid", "owners")
	owners, _ := m["owners"].([]any)
	if len(owners) != 2 {
		t.Fatalf("owners %v", m["owners"])
	}
	requireKeys(t, owners[0].(map[string]any), "peer", "rank", "has")
	loc, err := h.client.Locate(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if loc.CID != c || !loc.Owners[0].Has || loc.Owners[1].Has || loc.Owners[1].State != "suspect" {
		t.Errorf("locate %+v", loc)
	}

	resp, body = h.do("GET", "/v1/locate/not-a-cid", nil, nil)
	wantError(t, resp, body, 400, CodeInvalidArgument)
}

func TestNamespacesAndRecords(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do("POST", "/v1/namespaces", strings.NewReader(`{"name":"photos"}`), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	requireKeys(t, m, "name", "height", "tx")
	if m["name"] != "photos" || m["height"] != float64(1) {
		t.Errorf("register answer %v", m)
	}
	_, err := h.client.RegisterNamespace(t.Context(), "photos")
	if !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("second register: %v, want conflict", err)
	}
	tx, err := h.client.RegisterNamespace(t.Context(), "docs")
	if err != nil || tx.Height != 2 || tx.Tx != "TX2" {
		t.Fatalf("register docs: %+v %v", tx, err)
	}

	c := someCID("x")
	resp, body = h.do("POST", "/v1/records",
		strings.NewReader(fmt.Sprintf(`{"namespace":"photos","key":"2024/cats/a.jpg","cid":%q}`, c)), nil)
	if resp.StatusCode != 201 {
		t.Fatalf("submit: %d %s", resp.StatusCode, body)
	}
	m = jsonKeys(t, body)
	requireKeys(t, m, "height", "tx", "status", "code")
	if len(m) != 4 || m["status"] != "committed" {
		t.Errorf("submit answer: %v, want the contract's height and tx, with status and code", m)
	}

	resp, body = h.do("GET", "/v1/records/photos/2024/cats/a.jpg", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("record: %d %s", resp.StatusCode, body)
	}
	m = jsonKeys(t, body)
	requireKeys(t, m, "namespace", "key", "cid", "size", "version", "height", "status", "attestations")
	if m["key"] != "2024/cats/a.jpg" || m["cid"] != c || m["status"] != "pending" {
		t.Errorf("record %v", m)
	}
	if a, ok := m["attestations"].([]any); !ok || len(a) != 0 {
		t.Errorf("attestations %v, want []", m["attestations"])
	}

	// The client escapes each key segment and keeps the slashes.
	if _, err := h.client.SubmitRecord(t.Context(), "docs", "a b/c?d%e", c); err != nil {
		t.Fatal(err)
	}
	rec, err := h.client.Record(t.Context(), "docs", "a b/c?d%e")
	if err != nil || rec.Key != "a b/c?d%e" || rec.Namespace != "docs" {
		t.Fatalf("record with odd key: %+v %v", rec, err)
	}
	if _, err := h.client.Record(t.Context(), "docs", "missing/key"); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}
	resp, body = h.do("GET", "/v1/records/docs/", nil, nil)
	wantError(t, resp, body, 400, CodeInvalidArgument)
	if _, err := h.client.SubmitRecord(t.Context(), "nope", "k", c); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("record in unknown namespace: %v", err)
	}
}

func TestBadJSON(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxJSONBytes = 256 })
	cases := []struct {
		name, path, body string
		status           int
		code, mention    string
	}{
		{"syntax", "/v1/namespaces", `{"name":`, 400, CodeInvalidArgument, "truncated"},
		{"garbage", "/v1/namespaces", `{name}`, 400, CodeInvalidArgument, "invalid JSON"},
		{"empty", "/v1/namespaces", ``, 400, CodeInvalidArgument, "empty request body"},
		{"unknown field", "/v1/namespaces", `{"name":"a","owner":"me"}`, 400, CodeInvalidArgument, `"owner"`},
		{"wrong type", "/v1/namespaces", `{"name":5}`, 400, CodeInvalidArgument, `"name"`},
		{"missing field", "/v1/namespaces", `{}`, 400, CodeInvalidArgument, `"name"`},
		{"trailing data", "/v1/namespaces", `{"name":"a"} {"name":"b"}`, 400, CodeInvalidArgument, "trailing"},
		{"not an object", "/v1/namespaces", `["a"]`, 400, CodeInvalidArgument, "request body"},
		{"too large", "/v1/namespaces", `{"name":"` + strings.Repeat("a", 300) + `"}`, 413, CodeTooLarge, "256"},
		{"record no cid", "/v1/records", `{"namespace":"a","key":"b"}`, 400, CodeInvalidArgument, `"cid"`},
		{"record bad cid", "/v1/records", `{"namespace":"a","key":"b","cid":"zzz"}`, 400, CodeInvalidArgument, "CID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := h.do("POST", tc.path, strings.NewReader(tc.body), nil)
			e := wantError(t, resp, body, tc.status, tc.code)
			if !strings.Contains(e.Message, tc.mention) {
				t.Errorf("message %q does not mention %q", e.Message, tc.mention)
			}
		})
	}
	h.node.mu.Lock()
	defer h.node.mu.Unlock()
	if len(h.node.namespaces) != 0 || len(h.node.records) != 0 {
		t.Errorf("bad requests reached the node: %v %v", h.node.namespaces, h.node.records)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t, nil)
	resp, body := h.do("GET", "/v2/nothing", nil, nil)
	wantError(t, resp, body, 404, CodeNotFound)

	resp, body = h.do("DELETE", "/v1/status", nil, nil)
	e := wantError(t, resp, body, 405, CodeInvalidArgument)
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("Allow %q", allow)
	}
	if !strings.Contains(e.Message, "DELETE") {
		t.Errorf("message %q", e.Message)
	}
	resp, body = h.do("PUT", "/v1/blobs", nil, nil)
	wantError(t, resp, body, 405, CodeInvalidArgument)
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, nil)
	resp, _ := h.do("GET", "/v1/status", nil, map[string]string{requestIDHeader: "trace-abc_123"})
	if got := resp.Header.Get(requestIDHeader); got != "trace-abc_123" {
		t.Errorf("echoed %q", got)
	}
	resp, body := h.do("GET", "/v1/blobs/bad", nil, map[string]string{requestIDHeader: "mine-1"})
	if e := wantError(t, resp, body, 400, CodeInvalidArgument); e.RequestID != "mine-1" {
		t.Errorf("error request_id %q", e.RequestID)
	}
	ids := map[string]bool{}
	for _, given := range []string{"", "has space", strings.Repeat("x", 129), "tab\there"} {
		hdr := map[string]string{}
		if given != "" {
			hdr[requestIDHeader] = given
		}
		resp, _ := h.do("GET", "/health/live", nil, hdr)
		got := resp.Header.Get(requestIDHeader)
		if got == given || len(got) != 32 {
			t.Errorf("given %q: got %q, want a fresh 32-hex id", given, got)
		}
		ids[got] = true
	}
	if len(ids) != 4 {
		t.Errorf("generated ids repeat: %v", ids)
	}
	// Every kind of answer carries one: metrics, 404, 405 (checked in do).
	h.do("GET", "/metrics", nil, nil)
	h.do("GET", "/nope", nil, nil)
	h.do("POST", "/v1/status", nil, nil)
}

// parkStatus starts a client Status call and returns once the node holds it
// (fakeNode.gate). The call's error arrives on the channel when the test
// opens the gate or the request is cut off.
func (h *harness) parkStatus(t *testing.T) <-chan error {
	h.node.gate = make(chan struct{})
	h.node.entered = make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := h.client.Status(t.Context())
		done <- err
	}()
	<-h.node.entered
	return done
}

func TestOverloaded(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxInFlight = 1 })
	first := h.parkStatus(t)

	resp, body := h.do("GET", "/v1/members", nil, nil)
	wantError(t, resp, body, 503, CodeOverloaded)
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q", ra)
	}
	_, err := h.client.Members(t.Context())
	var ae *Error
	if !errors.Is(err, xnode.ErrOverloaded) || !errors.As(err, &ae) || ae.RetryAfter != time.Second {
		t.Errorf("client: %v (%+v)", err, ae)
	}
	// Probes are not shed.
	if err := h.client.Live(t.Context()); err != nil {
		t.Errorf("live while overloaded: %v", err)
	}

	close(h.node.gate)
	if err := <-first; err != nil {
		t.Fatalf("first request: %v", err)
	}
	h.node.gate = nil
	if _, err := h.client.Members(t.Context()); err != nil {
		t.Fatalf("after the load passed: %v", err)
	}
}

func TestPanicRecovered(t *testing.T) {
	h := newHarness(t, nil)
	h.node.mu.Lock()
	h.node.panicIn = "Members"
	h.node.mu.Unlock()
	resp, body := h.do("GET", "/v1/members", nil, nil)
	e := wantError(t, resp, body, 500, CodeInternal)
	if strings.Contains(e.Message, "blew up") {
		t.Errorf("panic value leaked to the client: %q", e.Message)
	}
	h.node.mu.Lock()
	h.node.panicIn = ""
	h.node.mu.Unlock()
	for range 3 {
		if _, err := h.client.Members(t.Context()); err != nil {
			t.Fatalf("after a panic: %v", err)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })
	h.node.waitForCtx = true
	resp, body := h.do("GET", "/v1/locate/"+someCID("a"), nil, nil)
	wantError(t, resp, body, 504, CodeTimeout)
	if _, err := h.client.Locate(t.Context(), someCID("a")); !errors.Is(err, xnode.ErrTimeout) {
		t.Errorf("client: %v", err)
	}
}

func TestErrorMapping(t *testing.T) {
	h := newHarness(t, nil)
	cases := []struct {
		err    error
		status int
		code   string
		kind   error
	}{
		{fmt.Errorf("x: %w", xnode.ErrInvalidArgument), 400, CodeInvalidArgument, xnode.ErrInvalidArgument},
		{fmt.Errorf("x: %w", xnode.ErrNotFound), 404, CodeNotFound, xnode.ErrNotFound},
		{fmt.Errorf("x: %w", xnode.ErrConflict), 409, CodeConflict, xnode.ErrConflict},
		{fmt.Errorf("x: %w", xnode.ErrTooLarge), 413, CodeTooLarge, xnode.ErrTooLarge},
		{fmt.Errorf("x: %w", xnode.ErrUnavailable), 503, CodeUnavailable, xnode.ErrUnavailable},
		{fmt.Errorf("x: %w", xnode.ErrOverloaded), 503, CodeOverloaded, xnode.ErrOverloaded},
		{fmt.Errorf("x: %w", xnode.ErrTimeout), 504, CodeTimeout, xnode.ErrTimeout},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 504, CodeTimeout, xnode.ErrTimeout},
		{fmt.Errorf("x: %w", xnode.ErrIntegrity), 500, CodeInternal, xnode.ErrIntegrity},
		{errors.New("disk on fire: secret-detail"), 500, CodeInternal, nil},
	}
	kinds := []error{xnode.ErrInvalidArgument, xnode.ErrNotFound, xnode.ErrConflict, xnode.ErrTooLarge,
		xnode.ErrUnavailable, xnode.ErrOverloaded, xnode.ErrTimeout, xnode.ErrIntegrity}
	for _, tc := range cases {
		t.Run(tc.code+"/"+tc.err.Error(), func(t *testing.T) {
			h.node.mu.Lock()
			h.node.errs["Status"] = tc.err
			h.node.mu.Unlock()
			resp, body := h.do("GET", "/v1/status", nil, nil)
			e := wantError(t, resp, body, tc.status, tc.code)
			if strings.Contains(e.Message, "secret-detail") {
				t.Errorf("internal detail leaked: %q", e.Message)
			}
			if (tc.code == CodeOverloaded) != (resp.Header.Get("Retry-After") == "1") {
				t.Errorf("Retry-After %q for %s", resp.Header.Get("Retry-After"), tc.code)
			}

			_, err := h.client.Status(t.Context())
			var ae *Error
			if !errors.As(err, &ae) || ae.HTTPStatus != tc.status || ae.Code != tc.code || ae.RequestID == "" {
				t.Fatalf("client error %#v", err)
			}
			for _, k := range kinds {
				if got := errors.Is(err, k); got != (k == tc.kind) {
					t.Errorf("errors.Is(%v, %v) = %v", err, k, got)
				}
			}
		})
	}
}

func TestGracefulShutdown(t *testing.T) {
	h := newHarness(t, nil)
	h.node.gate = make(chan struct{})
	h.node.entered = make(chan struct{}, 1)
	type result struct {
		status int
		body   []byte
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := h.hc.Get(h.base + "/v1/status")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, b, err}
	}()
	<-h.node.entered

	shutdown := make(chan error, 1)
	go func() { shutdown <- h.srv.Shutdown(t.Context()) }()
	addr := h.srv.Addr()
	testutil.Eventually(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, "listener still accepts during shutdown")
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	default:
	}

	close(h.node.gate)
	res := <-inflight
	if res.err != nil || res.status != 200 || !bytes.Contains(res.body, []byte("12D3KooWFake")) {
		t.Fatalf("in-flight request: %d %s %v", res.status, res.body, res.err)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("connection accepted after Shutdown")
	}
	if _, err := h.client.Status(t.Context()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("client after shutdown: %v", err)
	}
	if err := h.srv.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := h.srv.Start(t.Context()); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Start after Shutdown: %v", err)
	}
}

func TestShutdownDeadlineAborts(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ShutdownTimeout = 50 * time.Millisecond })
	inflight := h.parkStatus(t) // the gate is never opened: the request only ends by cancellation
	err := h.srv.Shutdown(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline: %v", err)
	}
	if err := <-inflight; err == nil {
		t.Fatal("aborted request reported success")
	}
	if err := h.srv.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	srv, err := New(cfg, newFakeNode(), reg, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != "" {
		t.Errorf("Addr before Start: %q", srv.Addr())
	}
	if _, err := New(cfg, newFakeNode(), reg, reg, nil); err == nil {
		t.Error("second server on one registry: metrics registered twice without error")
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err == nil {
		t.Error("second Start succeeded")
	}
	// A second server on the same port fails to start and says where.
	cfg2 := cfg
	cfg2.Listen = srv.Addr()
	other, err := New(cfg2, newFakeNode(), prometheus.NewRegistry(), prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Start(t.Context()); err == nil || !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("Start on a taken port: %v", err)
	}
	for range 2 {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if err := other.Close(); err != nil {
		t.Errorf("Close of an unstarted server: %v", err)
	}
	if _, err := New(cfg, nil, reg, reg, nil); err == nil {
		t.Error("nil node accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	cases := []struct {
		field string
		mod   func(*Config)
	}{
		{"Listen", func(c *Config) { c.Listen = "8080" }},
		{"MaxBodyBytes", func(c *Config) { c.MaxBodyBytes = 0 }},
		{"MaxJSONBytes", func(c *Config) { c.MaxJSONBytes = -1 }},
		{"MaxInFlight", func(c *Config) { c.MaxInFlight = 0 }},
		{"ReadHeaderTimeout", func(c *Config) { c.ReadHeaderTimeout = 0 }},
		{"IdleTimeout", func(c *Config) { c.IdleTimeout = -time.Second }},
		{"ShutdownTimeout", func(c *Config) { c.ShutdownTimeout = 0 }},
		{"RequestTimeout", func(c *Config) { c.RequestTimeout = 0 }},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.field, err)
		}
		if _, err := New(c, newFakeNode(), prometheus.NewRegistry(), prometheus.NewRegistry(), nil); err == nil {
			t.Errorf("New accepted a bad %s", tc.field)
		}
	}
}

func TestMetrics(t *testing.T) {
	h := newHarness(t, nil)
	for range 2 {
		if _, err := h.client.Status(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	h.do("GET", "/no/such/route", nil, nil)
	h.do("GET", "/v1/blobs/"+someCID("missing"), nil, nil)
	h.do("BREW", "/v1/status", nil, nil)

	_, body := h.do("GET", "/metrics", nil, nil)
	text := string(body)
	for _, want := range []string{
		`xnode_http_requests_total{code="200",method="GET",route="GET /v1/status"} 2`,
		`xnode_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`xnode_http_requests_total{code="404",method="GET",route="GET /v1/blobs/{cid}"} 1`,
		`xnode_http_requests_total{code="405",method="OTHER",route="unmatched"} 1`,
		`xnode_http_request_duration_seconds_count{method="GET",route="GET /v1/status"} 2`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestCloseCutsShutdownShort(t *testing.T) {
	h := newHarness(t, nil) // ShutdownTimeout 30 s: only Close can end this
	inflight := h.parkStatus(t)
	shutdown := make(chan error, 1)
	go func() { shutdown <- h.srv.Shutdown(t.Context()) }()
	addr := h.srv.Addr()
	testutil.Eventually(t, 5*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	}, "Shutdown never closed the listener")
	if err := h.srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-inflight; err == nil {
		t.Fatal("request cut off by Close reported success")
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown cut short: %v", err)
	}
}
