package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/xnode/xnode"
)

// Transaction fates, TxResult.Status.
const (
	// TxCommitted: in a block at Height; Code 0 means applied.
	TxCommitted = "committed"
	// TxPending: accepted into the node's mempool, not in a block yet; it
	// may still commit. Answered 202 Accepted by the submitting endpoints.
	TxPending = "pending"
	// TxRejected: refused by the node's CheckTx; Code and Log say why.
	TxRejected = "rejected"
	// TxUnknown: the node has not seen the transaction (GET /v1/txs/{hash}
	// answers 404 NOT_FOUND with it).
	TxUnknown = "unknown"
)

// TxHashLen is the length of a transaction hash in bytes (SHA-256).
const TxHashLen = 32

// ParseTxHash reads a transaction hash as people and CometBFT write it: 64
// hex digits in either case, optionally prefixed with 0x. Anything else
// wraps xnode.ErrInvalidArgument.
func ParseTxHash(s string) ([]byte, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != TxHashLen {
		shown := s
		if len(shown) > 80 {
			shown = shown[:80] + "..."
		}
		return nil, fmt.Errorf("api: %w: tx hash %q: want %d hex digits (the SHA-256 of the transaction, as CometBFT's /tx?hash=0x… takes it)",
			xnode.ErrInvalidArgument, shown, 2*TxHashLen)
	}
	return b, nil
}

// FormatTxHash writes a transaction hash as the API answers it: upper-case
// hex, as CometBFT prints hashes.
func FormatTxHash(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// txBody is the JSON of a TxResult: height only once committed, code only
// once committed or rejected, so a pending answer is {"tx","status"}.
type txBody struct {
	Name      string  `json:"name,omitempty"` // POST /v1/namespaces only
	Height    *int64  `json:"height,omitempty"`
	Tx        string  `json:"tx"`
	Status    string  `json:"status"`
	Code      *uint32 `json:"code,omitempty"`
	Codespace string  `json:"codespace,omitempty"`
	Log       string  `json:"log,omitempty"`
}

func bodyOf(res TxResult) txBody {
	b := txBody{Tx: res.Tx, Status: res.Status, Codespace: res.Codespace, Log: res.Log}
	if b.Status == "" {
		b.Status = TxCommitted
	}
	switch b.Status {
	case TxCommitted:
		b.Height, b.Code = &res.Height, &res.Code
	case TxRejected:
		b.Code = &res.Code
	}
	return b
}

// txErrorBody is an error answer about a known transaction: the error
// envelope, plus the transaction's hash and fate beside it.
type txErrorBody struct {
	Error ErrorDetail `json:"error"`
	txBody
}

// commitContext bounds a submitting request's wait for the commit.
func (s *Server) commitContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.cfg.CommitWait)
}

// writeTx answers a submitting request from the node's answer (see
// Node.RegisterNamespace): 201 committed, 202 pending, or the error with
// the transaction beside it when one is known. name is set for
// POST /v1/namespaces.
func (s *Server) writeTx(w http.ResponseWriter, r *http.Request, name string, res TxResult, err error) {
	if err != nil {
		s.writeTxError(w, r, name, res, err)
		return
	}
	b := bodyOf(res)
	b.Name = name
	switch b.Status {
	case TxCommitted:
		s.writeJSON(w, r, http.StatusCreated, b)
	case TxPending:
		s.writeJSON(w, r, http.StatusAccepted, b)
	default:
		s.writeError(w, r, fmt.Errorf("api: node answered tx %s with status %q and no error", res.Tx, res.Status))
	}
}

// writeTxError is writeError with the transaction's hash and fate added to
// the envelope, when the node knows them.
func (s *Server) writeTxError(w http.ResponseWriter, r *http.Request, name string, res TxResult, err error) {
	if res.Tx == "" {
		s.writeError(w, r, err)
		return
	}
	status, code, msg := codeFor(err)
	id := RequestID(r.Context())
	if code == CodeInternal {
		s.log.Error("api request failed", "request_id", id, "method", r.Method, "path", r.URL.Path, "code", code, "tx", res.Tx, "err", err)
	} else {
		s.log.Debug("api request refused", "request_id", id, "method", r.Method, "path", r.URL.Path, "code", code, "tx", res.Tx, "err", err)
	}
	b := txErrorBody{Error: ErrorDetail{Code: code, Message: msg, RequestID: id}, txBody: bodyOf(res)}
	b.Name = name
	s.writeJSON(w, r, status, b)
}

type relayRequest struct {
	// Tx is the signed transaction, standard base64.
	Tx string `json:"tx"`
}

// handleRelayTx serves POST /v1/txs: a transaction signed elsewhere, as the
// raw bytes (any content type but JSON) or as {"tx": base64}.
func (s *Server) handleRelayTx(w http.ResponseWriter, r *http.Request) {
	tx, err := s.readTx(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := s.commitContext(r)
	defer cancel()
	res, err := s.node.RelayTx(ctx, tx)
	s.writeTx(w, r, "", res, err)
}

// readTx reads POST /v1/txs's transaction, at most MaxJSONBytes.
func (s *Server) readTx(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var req relayRequest
		if err := s.decodeJSON(w, r, &req); err != nil {
			return nil, err
		}
		if req.Tx == "" {
			return nil, missingField("tx")
		}
		tx, err := base64.StdEncoding.DecodeString(req.Tx)
		if err != nil {
			return nil, fmt.Errorf("api: %w: request body: field \"tx\" is not standard base64: %v", xnode.ErrInvalidArgument, err)
		}
		return tx, nil
	}
	if r.ContentLength > s.cfg.MaxJSONBytes {
		return nil, &http.MaxBytesError{Limit: s.cfg.MaxJSONBytes}
	}
	tx, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxJSONBytes))
	var maxBytes *http.MaxBytesError
	switch {
	case errors.As(err, &maxBytes):
		return nil, fmt.Errorf("api: transaction over %d bytes: %w", s.cfg.MaxJSONBytes, err)
	case err != nil:
		return nil, fmt.Errorf("api: read transaction: %w", err)
	case len(tx) == 0:
		return nil, fmt.Errorf("api: %w: empty request body, want a signed transaction (raw bytes, or JSON {\"tx\": base64})", xnode.ErrInvalidArgument)
	}
	return tx, nil
}

// handleTx serves GET /v1/txs/{hash}: 200 with the fate, or 404 NOT_FOUND
// with {"tx","status":"unknown"} beside the envelope.
func (s *Server) handleTx(w http.ResponseWriter, r *http.Request) {
	hash, err := ParseTxHash(r.PathValue("hash"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.node.Tx(r.Context(), hash)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if res.Tx == "" {
		res.Tx = FormatTxHash(hash)
	}
	if res.Status == TxUnknown || res.Status == "" {
		res.Status = TxUnknown
		s.writeTxError(w, r, "", res, fmt.Errorf("api: %w: tx %s is unknown to this node: in no block it indexed, not in its mempool, not rejected by it lately",
			xnode.ErrNotFound, res.Tx))
		return
	}
	s.writeJSON(w, r, http.StatusOK, bodyOf(res))
}
