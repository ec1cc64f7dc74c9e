package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/xnode/xnode"
)

// TxPendingError is the error of a submitting call the node answered 202
// Accepted: the transaction is in its mempool but was not committed within
// the node's wait (Config.CommitWait). It may still commit; Client.Tx with
// the hash tells its fate. It matches xnode.ErrTimeout with errors.Is.
type TxPendingError struct {
	// Tx is the transaction's hash, as Client.Tx takes it.
	Tx string
	// RequestID names the request in the node's log.
	RequestID string
}

// Error implements error.
func (e *TxPendingError) Error() string {
	return fmt.Sprintf("api: transaction %s is pending: accepted, not committed yet; it may still commit "+
		"(GET /v1/txs/%s, or 'xnode tx %s', tells its fate)", e.Tx, e.Tx, e.Tx)
}

// Is reports the error kind, xnode.ErrTimeout.
func (e *TxPendingError) Is(target error) bool { return target == xnode.ErrTimeout }

// RelayTx submits a transaction signed elsewhere (POST /v1/txs, the raw
// bytes). Like RegisterNamespace and SubmitRecord it returns:
//   - committed and applied: Status TxCommitted with Height, nil error;
//   - pending past the node's wait: Status TxPending with Tx, and a
//     *TxPendingError (errors.Is xnode.ErrTimeout);
//   - rejected, or committed with a failure code: the TxResult (Tx, Status,
//     Code, Log) and an *Error of the matching kind;
//   - otherwise a zero TxResult and the error.
//
// Submitting the same bytes again answers for the same transaction.
func (c *Client) RelayTx(ctx context.Context, tx []byte) (TxResult, error) {
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	resp, err := c.do(ctx, http.MethodPost, "/v1/txs", bytes.NewReader(tx), int64(len(tx)), hdr)
	if err != nil {
		return TxResult{}, err
	}
	return c.txAnswer(resp)
}

// Tx returns the fate of the transaction with hash (GET /v1/txs/{hash}; 64
// hex digits, 0x optional). An unknown transaction is its TxResult with
// Status TxUnknown and an *Error NOT_FOUND; a malformed hash is refused
// before anything is sent.
func (c *Client) Tx(ctx context.Context, hash string) (TxResult, error) {
	b, err := ParseTxHash(hash)
	if err != nil {
		return TxResult{}, err
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/txs/"+url.PathEscape(FormatTxHash(b)), nil, -1, nil)
	if err != nil {
		return TxResult{}, err
	}
	return c.txAnswer(resp)
}

// submitJSON posts in and reads a submitting endpoint's answer.
func (c *Client) submitJSON(ctx context.Context, path string, in any) (TxResult, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return TxResult{}, fmt.Errorf("api: POST %s: encode request: %w", path, err)
	}
	hdr := http.Header{"Content-Type": {"application/json"}}
	resp, err := c.do(ctx, http.MethodPost, path, bytes.NewReader(b), int64(len(b)), hdr)
	if err != nil {
		return TxResult{}, err
	}
	return c.txAnswer(resp)
}

// txAnswer reads an answer about a transaction: 200 or 201 with its fate,
// 202 pending, or an error envelope that may carry the transaction beside it.
func (c *Client) txAnswer(resp *http.Response) (TxResult, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return TxResult{}, fmt.Errorf("api: %s %s: read answer: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	var res TxResult
	decodeErr := json.Unmarshal(b, &res)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted:
		if decodeErr != nil || res.Tx == "" {
			return TxResult{}, fmt.Errorf("api: %s %s: decode answer: not a transaction result: %.200q",
				resp.Request.Method, resp.Request.URL.Path, b)
		}
		if res.Status == "" {
			res.Status = TxCommitted // an older node's 201
		}
		if resp.StatusCode == http.StatusAccepted {
			return res, &TxPendingError{Tx: res.Tx, RequestID: resp.Header.Get(requestIDHeader)}
		}
		return res, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if decodeErr != nil || res.Tx == "" {
		res = TxResult{}
	}
	return res, c.errorFrom(resp)
}
