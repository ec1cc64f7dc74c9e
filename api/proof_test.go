package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/testutil"
)

// proverNode is the fake node that also answers proven reads.
type proverNode struct {
	*fakeNode
	calls int
}

func (p *proverNode) RecordProof(_ context.Context, ns, key string) (Record, Proof, error) {
	p.calls++
	proof := Proof{Height: 7, Key: []byte("r/" + ns + "/" + key), Ops: []ProofOp{{Type: "ics23:iavl", Key: []byte("r/" + ns + "/" + key), Data: []byte{1, 2, 3}}}}
	if key != "hello" {
		return Record{}, proof, fmt.Errorf("no record %s/%s: %w", ns, key, xnode.ErrNotFound)
	}
	proof.Value = []byte{0xa1}
	return Record{Namespace: ns, Key: key, CID: "bafy", Status: "pending"}, proof, nil
}

// proverHarness is the API harness over a node that may prove.
func proverHarness(t *testing.T, node Node) *harness {
	t.Helper()
	h := &harness{t: t, reg: prometheus.NewRegistry()}
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	srv, err := New(cfg, node, h.reg, h.reg, testutil.Logger(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	h.srv, h.base, h.hc = srv, "http://"+srv.Addr(), &http.Client{}
	if h.client, err = NewClient(h.base, h.hc); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRecordProof(t *testing.T) {
	node := &proverNode{fakeNode: newFakeNode()}
	node.records["demo/hello"] = Record{Namespace: "demo", Key: "hello", CID: "unproven", Status: "pending"}
	h := proverHarness(t, node)

	// The client asks with ?prove=true and gets the record and the proof.
	rec, err := h.client.RecordProof(t.Context(), "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if rec.CID != "bafy" || rec.Proof.Height != 7 || string(rec.Proof.Key) != "r/demo/hello" || len(rec.Proof.Ops) != 1 || rec.Proof.Ops[0].Type != "ics23:iavl" {
		t.Fatalf("got %+v", rec)
	}
	// The JSON shape: the record's fields and "proof" with base64 bytes.
	resp, body := h.do(http.MethodGet, "/v1/records/demo/hello?prove=true", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	m := jsonKeys(t, body)
	requireKeys(t, m, "namespace", "key", "cid", "status", "attestations", "proof")
	proof := m["proof"].(map[string]any)
	requireKeys(t, proof, "height", "key", "value", "ops")
	if proof["key"] != "ci9kZW1vL2hlbGxv" || proof["value"] != "oQ==" { // base64 of r/demo/hello, 0xa1
		t.Fatalf("proof %v", proof)
	}
	// Without prove, or prove=false, the plain record.
	for _, q := range []string{"", "?prove=false", "?prove=0"} {
		resp, body := h.do(http.MethodGet, "/v1/records/demo/hello"+q, nil, nil)
		if m := jsonKeys(t, body); resp.StatusCode != http.StatusOK || m["cid"] != "unproven" || m["proof"] != nil {
			t.Fatalf("%q: %d %s", q, resp.StatusCode, body)
		}
	}
	// An absent record: NOT_FOUND, with the proof of absence.
	resp, body = h.do(http.MethodGet, "/v1/records/demo/missing?prove=true", nil, nil)
	wantError(t, resp, body, http.StatusNotFound, CodeNotFound)
	var env struct{ Proof *Proof }
	if err := json.Unmarshal(body, &env); err != nil || env.Proof == nil || env.Proof.Value != nil || len(env.Proof.Ops) != 1 {
		t.Fatalf("absent: %s", body)
	}
	if _, err := h.client.RecordProof(t.Context(), "demo", "missing"); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("client, absent: got %v, want ErrNotFound", err)
	}
	// Bad input.
	resp, body = h.do(http.MethodGet, "/v1/records/demo/hello?prove=maybe", nil, nil)
	wantError(t, resp, body, http.StatusBadRequest, CodeInvalidArgument)
	if _, err := h.client.RecordProof(t.Context(), "", "hello"); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("empty namespace: got %v", err)
	}
	if node.calls != 4 {
		t.Fatalf("RecordProof called %d times, want 4", node.calls)
	}
}

func TestRecordProofFromANodeThatCannotProve(t *testing.T) {
	h := proverHarness(t, newFakeNode())
	resp, body := h.do(http.MethodGet, "/v1/records/demo/hello?prove=true", nil, nil)
	wantError(t, resp, body, http.StatusServiceUnavailable, CodeUnavailable)
}
