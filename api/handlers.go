package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReady answers 200 when every check passes, else 503 with the checks
// and the UNAVAILABLE error envelope naming the failing ones.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	checks := s.node.Ready(r.Context())
	if checks == nil {
		checks = []Check{}
	}
	var failing []string
	for _, c := range checks {
		if !c.OK {
			failing = append(failing, fmt.Sprintf("%s: %s", c.Name, c.Detail))
		}
	}
	if len(failing) == 0 {
		s.writeJSON(w, r, http.StatusOK, Readiness{Ready: true, Checks: checks})
		return
	}
	s.writeJSON(w, r, http.StatusServiceUnavailable, Readiness{Checks: checks, Error: &ErrorDetail{
		Code:      CodeUnavailable,
		Message:   "not ready: " + strings.Join(failing, "; "),
		RequestID: RequestID(r.Context()),
	}})
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := s.node.Status(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if st.Addrs == nil {
		st.Addrs = []string{}
	}
	s.writeJSON(w, r, http.StatusOK, st)
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := s.node.Members(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ms == nil {
		ms = []Member{}
	}
	if all := r.URL.Query().Get("all"); all != "true" && all != "1" {
		kept := ms[:0]
		for _, m := range ms {
			if m.State != MemberObserver {
				kept = append(kept, m)
			}
		}
		ms = kept
	}
	for i := range ms {
		if ms[i].Addrs == nil {
			ms[i].Addrs = []string{}
		}
	}
	s.writeJSON(w, r, http.StatusOK, ms)
}

func (s *Server) handleLocate(w http.ResponseWriter, r *http.Request) {
	c, err := parseCID(r.PathValue("cid"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc, err := s.node.Locate(r.Context(), c)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if loc.Owners == nil {
		loc.Owners = []Owner{}
	}
	s.writeJSON(w, r, http.StatusOK, loc)
}

type namespaceRequest struct {
	Name string `json:"name"`
}

func (s *Server) handleRegisterNamespace(w http.ResponseWriter, r *http.Request) {
	var req namespaceRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Name == "" {
		s.writeError(w, r, missingField("name"))
		return
	}
	ctx, cancel := s.commitContext(r)
	defer cancel()
	tx, err := s.node.RegisterNamespace(ctx, req.Name)
	s.writeTx(w, r, req.Name, tx, err)
}

type recordRequest struct {
	Namespace string `json:"namespace"`
	Key       string `json:"key"`
	CID       string `json:"cid"`
}

func (s *Server) handleSubmitRecord(w http.ResponseWriter, r *http.Request) {
	var req recordRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, f := range []struct{ name, v string }{{"namespace", req.Namespace}, {"key", req.Key}, {"cid", req.CID}} {
		if f.v == "" {
			s.writeError(w, r, missingField(f.name))
			return
		}
	}
	c, err := parseCID(req.CID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := s.commitContext(r)
	defer cancel()
	tx, err := s.node.SubmitRecord(ctx, req.Namespace, req.Key, c)
	s.writeTx(w, r, "", tx, err)
}

// handleRecord serves GET /v1/records/{namespace}/{key...}; the key may
// contain '/'.
func (s *Server) handleRecord(w http.ResponseWriter, r *http.Request) {
	ns, key := r.PathValue("namespace"), r.PathValue("key")
	if key == "" {
		s.writeError(w, r, fmt.Errorf("api: %w: empty record key in %s", xnode.ErrInvalidArgument, r.URL.Path))
		return
	}
	if s.serveRecordProof(w, r, ns, key) { // ?prove=true: api/proof.go
		return
	}
	rec, err := s.node.Record(r.Context(), ns, key)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if rec.Attestations == nil {
		rec.Attestations = []Attestation{}
	}
	s.writeJSON(w, r, http.StatusOK, rec)
}

func parseCID(s string) (cid.Cid, error) {
	c, err := block.Parse(s)
	if err != nil {
		return cid.Undef, fmt.Errorf("api: cid: %w", err)
	}
	return c, nil
}

func missingField(name string) error {
	return fmt.Errorf("api: %w: request body: missing or empty field %q", xnode.ErrInvalidArgument, name)
}

// decodeJSON reads one JSON object of at most MaxJSONBytes into dst,
// refusing unknown fields and trailing data. Errors wrap
// xnode.ErrInvalidArgument (or are an *http.MaxBytesError) and say what is
// wrong in words a caller can act on.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data after the JSON object")
		}
	}
	if err == nil {
		return nil
	}
	var (
		maxBytes *http.MaxBytesError
		syntax   *json.SyntaxError
		typeErr  *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxBytes):
		return fmt.Errorf("api: JSON body over %d bytes: %w", s.cfg.MaxJSONBytes, err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("api: %w: empty request body, want a JSON object", xnode.ErrInvalidArgument)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("api: %w: request body: truncated JSON", xnode.ErrInvalidArgument)
	case errors.As(err, &syntax):
		return fmt.Errorf("api: %w: request body: invalid JSON at byte %d: %v", xnode.ErrInvalidArgument, syntax.Offset, err)
	case errors.As(err, &typeErr):
		return fmt.Errorf("api: %w: request body: field %q must be a JSON %s, not %s",
			xnode.ErrInvalidArgument, typeErr.Field, typeErr.Type, typeErr.Value)
	default: // unknown field, trailing data, a non-object
		return fmt.Errorf("api: %w: request body: %v", xnode.ErrInvalidArgument, err)
	}
}

// writeJSON marshals v first, so an encoding failure still becomes a proper
// error answer.
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("api: encode answer: %w", err))
		return
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError answers err per the taxonomy (codeFor). INTERNAL errors are
// logged with the request id; the client gets a generic message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := codeFor(err)
	id := RequestID(r.Context())
	switch {
	case code == CodeInternal:
		s.log.Error("api request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	default:
		s.log.Debug("api request refused", "request_id", id, "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	if code == CodeOverloaded {
		w.Header().Set("Retry-After", "1")
	}
	s.writeJSONError(w, r, status, code, msg)
}

func (s *Server) writeJSONError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.writeJSON(w, r, status, errorEnvelope{Error: ErrorDetail{Code: code, Message: msg, RequestID: RequestID(r.Context())}})
}
