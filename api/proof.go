package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/xnode/xnode"
)

// Proof is the proof part of a proven read (`?prove=true`): the height
// whose state was read (its app hash is in header Height+1), the state
// key, the raw stored value (canonical CBOR; absent when the key is) and
// the CometBFT proof operations, one "ics23:iavl" op whose data is a
// protobuf ICS23 CommitmentProof. Byte fields are base64 in JSON. A client
// checks it with the light package against a header it verified; the node
// that serves it is not trusted.
type Proof struct {
	Height int64     `json:"height"`
	Key    []byte    `json:"key"`
	Value  []byte    `json:"value"`
	Ops    []ProofOp `json:"ops"`
}

// ProofOp is one CometBFT proof operation.
type ProofOp struct {
	Type string `json:"type"`
	Key  []byte `json:"key"`
	Data []byte `json:"data"`
}

// ProvenRecord is the answer of GET /v1/records/{namespace}/{key}?prove=true:
// the record as of the proof's height, and the proof.
type ProvenRecord struct {
	Record
	Proof Proof `json:"proof"`
}

// RecordProver is implemented by a Node that answers proven reads. The API
// serves ?prove=true only from such a node.
type RecordProver interface {
	// RecordProof reads namespace/key with a proof from one committed
	// height. When the record is absent it returns the proof of absence
	// with an error wrapping xnode.ErrNotFound.
	RecordProof(ctx context.Context, namespace, key string) (Record, Proof, error)
}

// proofEnvelope is a NOT_FOUND answer that carries the proof of absence.
type proofEnvelope struct {
	Error ErrorDetail `json:"error"`
	Proof *Proof      `json:"proof,omitempty"`
}

// serveRecordProof answers GET /v1/records/{ns}/{key} when the request asks
// for a proof, and reports whether it did.
func (s *Server) serveRecordProof(w http.ResponseWriter, r *http.Request, ns, key string) bool {
	q := r.URL.Query()
	if !q.Has("prove") {
		return false
	}
	prove, err := strconv.ParseBool(q.Get("prove"))
	if err != nil {
		s.writeError(w, r, fmt.Errorf("api: %w: prove=%q, want true or false", xnode.ErrInvalidArgument, truncateParam(q.Get("prove"))))
		return true
	}
	if !prove {
		return false
	}
	p, ok := s.node.(RecordProver)
	if !ok {
		s.writeError(w, r, fmt.Errorf("api: %w: this node does not serve proofs", xnode.ErrUnavailable))
		return true
	}
	rec, proof, err := p.RecordProof(r.Context(), ns, key)
	if proof.Ops == nil {
		proof.Ops = []ProofOp{}
	}
	if errors.Is(err, xnode.ErrNotFound) && len(proof.Ops) > 0 {
		status, code, msg := codeFor(err)
		s.writeJSON(w, r, status, proofEnvelope{Error: ErrorDetail{Code: code, Message: msg, RequestID: RequestID(r.Context())}, Proof: &proof})
		return true
	}
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	if rec.Attestations == nil {
		rec.Attestations = []Attestation{}
	}
	s.writeJSON(w, r, http.StatusOK, ProvenRecord{Record: rec, Proof: proof})
	return true
}

func truncateParam(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// RecordProof fetches namespace/key with its proof
// (GET /v1/records/{namespace}/{key}?prove=true). The node is not trusted:
// check the proof (package light) before relying on the record.
func (c *Client) RecordProof(ctx context.Context, namespace, key string) (ProvenRecord, error) {
	var rec ProvenRecord
	if namespace == "" || key == "" {
		return rec, fmt.Errorf("api: %w: record name %q/%q: namespace and key must be non-empty",
			xnode.ErrInvalidArgument, namespace, key)
	}
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	path := "/v1/records/" + url.PathEscape(namespace) + "/" + strings.Join(segs, "/") + "?prove=true"
	err := c.doJSON(ctx, http.MethodGet, path, nil, http.StatusOK, &rec)
	return rec, err
}
