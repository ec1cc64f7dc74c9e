package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/xnode/xnode"
)

// Codes of the error taxonomy (DESIGN.md, HTTP API).
const (
	CodeInvalidArgument = "INVALID_ARGUMENT"
	CodeNotFound        = "NOT_FOUND"
	CodeConflict        = "CONFLICT"
	CodeTooLarge        = "TOO_LARGE"
	CodeUnavailable     = "UNAVAILABLE"
	CodeOverloaded      = "OVERLOADED"
	CodeTimeout         = "TIMEOUT"
	CodeInternal        = "INTERNAL"
)

// ErrUnreachable means no HTTP conversation could be started with the node
// (connection refused, unknown host, dial timeout): most often no node runs
// at that address. Client errors wrap it together with the URL.
var ErrUnreachable = fmt.Errorf("api: %w: node unreachable", xnode.ErrUnavailable)

// ErrNotAPI means the server answered, but not as an xnode API does: a
// 404 without the error envelope or a request id, as from CometBFT's RPC
// port or another web server. Most often --api names the wrong port.
var ErrNotAPI = fmt.Errorf("api: %w: not an xnode API", xnode.ErrUnavailable)

// ErrorDetail is the "error" object of every error response:
// {"error":{"code":"NOT_FOUND","message":"...","request_id":"..."}}.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

type errorEnvelope struct {
	Error ErrorDetail `json:"error"`
}

// integrityMessage starts the message of every INTERNAL answer caused by
// xnode.ErrIntegrity; the client maps such an answer back onto that kind.
var integrityMessage = xnode.ErrIntegrity.Error()

// kinds pairs each root error kind with its code and HTTP status, in the
// order codeFor tests them, so an error wrapping two kinds gets the first
// (OVERLOADED before UNAVAILABLE).
var kinds = []struct {
	kind   error
	code   string
	status int
}{
	{xnode.ErrInvalidArgument, CodeInvalidArgument, http.StatusBadRequest},
	{xnode.ErrNotFound, CodeNotFound, http.StatusNotFound},
	{xnode.ErrConflict, CodeConflict, http.StatusConflict},
	{xnode.ErrTooLarge, CodeTooLarge, http.StatusRequestEntityTooLarge},
	{xnode.ErrOverloaded, CodeOverloaded, http.StatusServiceUnavailable},
	{xnode.ErrUnavailable, CodeUnavailable, http.StatusServiceUnavailable},
	{xnode.ErrTimeout, CodeTimeout, http.StatusGatewayTimeout},
}

// codeFor maps an error onto the taxonomy: the HTTP status, the code and the
// message the client sees. It is the only place that does so. INTERNAL
// answers carry a generic message: the caller logs the real error.
func codeFor(err error) (status int, code, message string) {
	var maxBytes *http.MaxBytesError
	if errors.As(err, &maxBytes) {
		return http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("request body over the limit of %d bytes", maxBytes.Limit)
	}
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			return k.status, k.code, err.Error()
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, CodeTimeout, err.Error()
	case errors.Is(err, context.Canceled):
		// The client went away or the server is closing; nobody may read
		// this, but it must not look like a bug.
		return http.StatusServiceUnavailable, CodeUnavailable, "request cancelled"
	case errors.Is(err, xnode.ErrIntegrity):
		return http.StatusInternalServerError, CodeInternal,
			integrityMessage + ": stored data did not match its content address and no good copy was found"
	default:
		return http.StatusInternalServerError, CodeInternal, "internal error; see the node's log for this request id"
	}
}

// Error is an error answer from the node, as the Client returns it.
// errors.Is(err, xnode.ErrNotFound) and the like hold for the matching codes.
type Error struct {
	// HTTPStatus is the response's status code.
	HTTPStatus int
	// Code is the taxonomy code, e.g. "NOT_FOUND".
	Code string
	// Message is the server's explanation.
	Message string
	// RequestID names the request in the node's log.
	RequestID string
	// RetryAfter is the pause the server asked for (OVERLOADED), or 0.
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "api: %s (%d)", e.Code, e.HTTPStatus)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " [request_id %s]", e.RequestID)
	}
	return b.String()
}

// Is maps the code back onto the kinds of the root package, so callers branch
// with errors.Is(err, xnode.ErrNotFound) on either side of the wire. An
// INTERNAL answer whose message names an integrity failure is
// xnode.ErrIntegrity.
func (e *Error) Is(target error) bool {
	if e.Code == CodeInternal {
		return target == xnode.ErrIntegrity && strings.HasPrefix(e.Message, integrityMessage)
	}
	for _, k := range kinds {
		if k.code == e.Code {
			return target == k.kind
		}
	}
	return false
}

// codeForStatus guesses the code of an answer that did not carry the JSON
// envelope (a proxy's page, a HEAD request).
func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusRequestedRangeNotSatisfiable:
		return CodeInvalidArgument
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusConflict:
		return CodeConflict
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	case http.StatusGatewayTimeout:
		return CodeTimeout
	}
	return CodeInternal
}

// maxRetryAfter is the longest wait a Retry-After header is read as: a
// larger number of seconds would overflow a time.Duration (it read as a
// negative wait).
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After header given in seconds.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && n > 0, err == nil && n > int64(maxRetryAfter/time.Second):
		return maxRetryAfter
	case err != nil || n < 0:
		return 0
	}
	return time.Duration(n) * time.Second
}
