package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/testutil"
)

// The plain fakeNode relays nothing; txNode below is the fake chain.
func (f *fakeNode) RelayTx(ctx context.Context, tx []byte) (TxResult, error) {
	return TxResult{}, fmt.Errorf("fake: no chain: %w", xnode.ErrUnavailable)
}

func (f *fakeNode) Tx(ctx context.Context, hash []byte) (TxResult, error) {
	return TxResult{}, fmt.Errorf("fake: no chain: %w", xnode.ErrUnavailable)
}

// txNode is a fake chain behind the submitting endpoints: a transaction
// whose bytes start with "ok:" commits (unless the chain is stalled: then it
// stays pending until ctx's deadline, as the real node does), anything else
// is rejected with code 1. Every fate is remembered by hash, and a
// resubmission answers from it.
type txNode struct {
	*fakeNode
	mu      sync.Mutex
	stalled bool
	height  int64
	fates   map[string]TxResult
}

func newTxNode() *txNode { return &txNode{fakeNode: newFakeNode(), fates: make(map[string]TxResult)} }

func hashOf(tx []byte) string {
	h := sha256.Sum256(tx)
	return FormatTxHash(h[:])
}

func (n *txNode) RelayTx(ctx context.Context, tx []byte) (TxResult, error) {
	hash := hashOf(tx)
	n.mu.Lock()
	if res, ok := n.fates[hash]; ok && res.Status != TxPending {
		n.mu.Unlock()
		return res, errorOf(res)
	}
	if !bytes.HasPrefix(tx, []byte("ok:")) {
		res := TxResult{Tx: hash, Status: TxRejected, Code: 1, Log: "not a canonical xnode transaction"}
		n.fates[hash] = res
		n.mu.Unlock()
		return res, errorOf(res)
	}
	if !n.stalled {
		n.height++
		res := TxResult{Tx: hash, Status: TxCommitted, Height: n.height}
		n.fates[hash] = res
		n.mu.Unlock()
		return res, nil
	}
	n.fates[hash] = TxResult{Tx: hash, Status: TxPending}
	n.mu.Unlock()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return TxResult{}, ctx.Err()
	}
	return TxResult{Tx: hash, Status: TxPending}, nil
}

func errorOf(res TxResult) error {
	if res.Status == TxRejected || res.Code != 0 {
		return fmt.Errorf("fake: %w: %s", xnode.ErrInvalidArgument, res.Log)
	}
	return nil
}

// resume commits every pending transaction.
func (n *txNode) resume() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.stalled = false
	n.height++
	for h, res := range n.fates {
		if res.Status == TxPending {
			n.fates[h] = TxResult{Tx: h, Status: TxCommitted, Height: n.height}
		}
	}
}

func (n *txNode) Tx(ctx context.Context, hash []byte) (TxResult, error) {
	if len(hash) != TxHashLen {
		return TxResult{}, fmt.Errorf("fake: hash of %d bytes: %w", len(hash), xnode.ErrInvalidArgument)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if res, ok := n.fates[FormatTxHash(hash)]; ok {
		return res, nil
	}
	return TxResult{Tx: FormatTxHash(hash), Status: TxUnknown}, nil
}

func (n *txNode) RegisterNamespace(ctx context.Context, name string) (TxResult, error) {
	return n.RelayTx(ctx, []byte("ok:ns:"+name))
}

func (n *txNode) SubmitRecord(ctx context.Context, ns, key string, c cid.Cid) (TxResult, error) {
	return n.RelayTx(ctx, []byte("ok:rec:"+ns+"/"+key+"="+c.String()))
}

var _ Node = (*txNode)(nil)

// newTxHarness is newHarness over a txNode.
func newTxHarness(t *testing.T, mod func(*Config)) (*harness, *txNode) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	if mod != nil {
		mod(&cfg)
	}
	node := newTxNode()
	h := &harness{t: t, node: node.fakeNode, reg: prometheus.NewRegistry()}
	srv, err := New(cfg, node, h.reg, h.reg, testutil.Logger(t.Name()))
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
	if h.client, err = NewClient(h.base, h.hc); err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		tr.CloseIdleConnections()
	})
	return h, node
}

func TestRelayTxCommitsRawAndJSON(t *testing.T) {
	h, _ := newTxHarness(t, nil)
	resp, body := h.do("POST", "/v1/txs", strings.NewReader("ok:raw"), map[string]string{"Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("raw relay: %d %s", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	requireKeys(t, m, "height", "tx", "status", "code")
	if m["tx"] != hashOf([]byte("ok:raw")) || m["status"] != TxCommitted || m["code"] != 0.0 {
		t.Fatalf("raw relay answer %s", body)
	}

	js := `{"tx":"` + base64.StdEncoding.EncodeToString([]byte("ok:json")) + `"}`
	resp, body = h.do("POST", "/v1/txs", strings.NewReader(js), map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated || jsonKeys(t, body)["tx"] != hashOf([]byte("ok:json")) {
		t.Fatalf("JSON relay: %d %s", resp.StatusCode, body)
	}

	res, err := h.client.RelayTx(t.Context(), []byte("ok:client"))
	if err != nil || res.Status != TxCommitted || res.Height <= 0 || res.Tx != hashOf([]byte("ok:client")) {
		t.Fatalf("Client.RelayTx: %+v, %v", res, err)
	}
	// The same bytes again: the first result, not an error.
	again, err := h.client.RelayTx(t.Context(), []byte("ok:client"))
	if err != nil || again != res {
		t.Fatalf("relay again: %+v, %v; want %+v", again, err, res)
	}
	got, err := h.client.Tx(t.Context(), strings.ToLower(res.Tx))
	if err != nil || got != res {
		t.Fatalf("Client.Tx (lower case): %+v, %v; want %+v", got, err, res)
	}
	if got, err := h.client.Tx(t.Context(), "0x"+res.Tx); err != nil || got != res {
		t.Fatalf("Client.Tx (0x): %+v, %v", got, err)
	}
}

func TestRelayTxBadInput(t *testing.T) {
	h, _ := newTxHarness(t, func(c *Config) { c.MaxJSONBytes = 1 << 10 })
	octet := map[string]string{"Content-Type": "application/octet-stream"}
	js := map[string]string{"Content-Type": "application/json"}

	// Garbage reaches the chain and is rejected there: the error, plus the
	// hash and fate beside it.
	resp, body := h.do("POST", "/v1/txs", strings.NewReader("\x00garbage\xff"), octet)
	wantError(t, resp, body, http.StatusBadRequest, CodeInvalidArgument)
	m := jsonKeys(t, body)
	if m["tx"] != hashOf([]byte("\x00garbage\xff")) || m["status"] != TxRejected || m["code"] != 1.0 || m["log"] == nil {
		t.Fatalf("rejected answer %s", body)
	}
	if _, ok := m["height"]; ok {
		t.Fatalf("a rejected tx has a height: %s", body)
	}
	res, err := h.client.RelayTx(t.Context(), []byte("\x00garbage\xff"))
	if !errors.Is(err, xnode.ErrInvalidArgument) || res.Status != TxRejected || res.Code != 1 || res.Tx == "" {
		t.Fatalf("Client.RelayTx of garbage: %+v, %v", res, err)
	}

	for _, c := range []struct {
		name string
		body string
		hdr  map[string]string
	}{
		{"empty raw body", "", octet},
		{"empty JSON", "", js},
		{"JSON without tx", `{}`, js},
		{"JSON tx not base64", `{"tx":"!!!"}`, js},
		{"JSON unknown field", `{"tx":"b2s6eA==","fee":1}`, js},
		{"JSON garbage", `{"tx":`, js},
	} {
		resp, body := h.do("POST", "/v1/txs", strings.NewReader(c.body), c.hdr)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", c.name, resp.StatusCode, body)
			continue
		}
		wantError(t, resp, body, http.StatusBadRequest, CodeInvalidArgument)
	}

	// Over the size limit, declared or streamed.
	big := strings.Repeat("x", 2<<10)
	resp, body = h.do("POST", "/v1/txs", strings.NewReader(big), octet)
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, CodeTooLarge)
	req, err := http.NewRequest("POST", h.base+"/v1/txs", struct{ *strings.Reader }{strings.NewReader(big)})
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1
	r2, err := h.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked oversize tx: %d, want 413", r2.StatusCode)
	}
	if _, err := h.client.RelayTx(t.Context(), []byte(big)); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("Client.RelayTx oversize: %v, want ErrTooLarge", err)
	}
}

func TestTxLookupBadAndUnknownHash(t *testing.T) {
	h, _ := newTxHarness(t, nil)
	for _, bad := range []string{"xyz", strings.Repeat("a", 63), strings.Repeat("a", 65), strings.Repeat("g", 64), "0x"} {
		resp, body := h.do("GET", "/v1/txs/"+bad, nil, nil)
		d := wantError(t, resp, body, http.StatusBadRequest, CodeInvalidArgument)
		if !strings.Contains(d.Message, "64 hex digits") {
			t.Errorf("bad hash %q: message %q does not say what a hash is", bad, d.Message)
		}
		if _, err := h.client.Tx(t.Context(), bad); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("Client.Tx(%q): %v, want ErrInvalidArgument", bad, err)
		}
	}
	unknown := hashOf([]byte("never sent"))
	resp, body := h.do("GET", "/v1/txs/"+unknown, nil, nil)
	wantError(t, resp, body, http.StatusNotFound, CodeNotFound)
	if m := jsonKeys(t, body); m["tx"] != unknown || m["status"] != TxUnknown {
		t.Fatalf("unknown answer %s", body)
	}
	res, err := h.client.Tx(t.Context(), unknown)
	if !errors.Is(err, xnode.ErrNotFound) || res.Status != TxUnknown || res.Tx != unknown {
		t.Fatalf("Client.Tx unknown: %+v, %v", res, err)
	}
}

// TestStalledChainAnswersPendingWithinCommitWait: a submission the chain
// does not commit in CommitWait is answered 202 {"tx","status":"pending"},
// and the hash then shows its fate.
func TestStalledChainAnswersPendingWithinCommitWait(t *testing.T) {
	const wait = 300 * time.Millisecond
	h, node := newTxHarness(t, func(c *Config) { c.CommitWait = wait })
	node.stalled = true

	start := time.Now()
	resp, body := h.do("POST", "/v1/txs", strings.NewReader("ok:stalled"), map[string]string{"Content-Type": "application/octet-stream"})
	if took := time.Since(start); took < wait || took > wait+5*time.Second {
		t.Fatalf("pending answer after %s, want about %s", took, wait)
	}
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("stalled relay: %d %s, want 202", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	if len(m) != 2 || m["tx"] != hashOf([]byte("ok:stalled")) || m["status"] != TxPending {
		t.Fatalf("pending answer %s, want exactly {tx, status: pending}", body)
	}

	// The client says pending, with the hash, as an error of kind timeout.
	res, err := h.client.RelayTx(t.Context(), []byte("ok:stalled"))
	var pending *TxPendingError
	if !errors.As(err, &pending) || !errors.Is(err, xnode.ErrTimeout) || pending.Tx != m["tx"] ||
		res.Status != TxPending || res.Tx != pending.Tx || !strings.Contains(err.Error(), "xnode tx "+pending.Tx) {
		t.Fatalf("Client.RelayTx while stalled: %+v, %v", res, err)
	}
	// Namespaces and records answer the same way.
	for _, f := range []func() (TxResult, error){
		func() (TxResult, error) { return h.client.RegisterNamespace(t.Context(), "docs") },
		func() (TxResult, error) { return h.client.SubmitRecord(t.Context(), "docs", "k", someCID("x")) },
	} {
		var p *TxPendingError
		if res, err := f(); !errors.As(err, &p) || res.Status != TxPending || res.Tx != p.Tx {
			t.Fatalf("submit while stalled: %+v, %v", res, err)
		}
	}
	if got, err := h.client.Tx(t.Context(), pending.Tx); err != nil || got.Status != TxPending {
		t.Fatalf("Tx while stalled: %+v, %v", got, err)
	}

	node.resume()
	got, err := h.client.Tx(t.Context(), pending.Tx)
	if err != nil || got.Status != TxCommitted || got.Height <= 0 {
		t.Fatalf("Tx after resume: %+v, %v", got, err)
	}
	again, err := h.client.RelayTx(t.Context(), []byte("ok:stalled"))
	if err != nil || again != got {
		t.Fatalf("relay after resume: %+v, %v; want %+v", again, err, got)
	}
	// A 201 keeps the contract's {"height","tx"}.
	resp, body = h.do("POST", "/v1/records", strings.NewReader(`{"namespace":"docs","key":"k2","cid":"`+someCID("y")+`"}`),
		map[string]string{"Content-Type": "application/json"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("record after resume: %d %s", resp.StatusCode, body)
	}
	requireKeys(t, jsonKeys(t, body), "height", "tx", "status")
}

func TestConfigCommitWaitValidated(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.CommitWait != 10*time.Second {
		t.Fatalf("default CommitWait %s, want 10s", cfg.CommitWait)
	}
	cfg.CommitWait = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "CommitWait") {
		t.Fatalf("CommitWait 0: %v, want an error naming it", err)
	}
}
