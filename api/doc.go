// Package api is the node's HTTP API (the north–south plane) and the Go
// client the CLI uses. It follows DESIGN.md, "HTTP API (contract)".
//
// # Server
//
// New(cfg, node, gatherer, reg, log) builds a Server that serves a Node, an
// interface declared here and satisfied by the overlay's node; this package
// never imports the overlay. New registers metrics on reg and starts
// nothing. Start binds the listener (Addr is valid once it returns) and
// serves in one goroutine. Shutdown drains gracefully — listener closed,
// idle connections closed, in-flight requests finished within
// Config.ShutdownTimeout or the caller's ctx, then aborted — and waits for
// that goroutine. Close aborts at once. Both are idempotent.
//
// Routes (Go 1.22 ServeMux patterns):
//
//	GET  /health/live                       200 {"status":"ok"}
//	GET  /health/ready                      200 or 503 {"ready","checks":[{"name","ok","detail"}]}
//	GET  /metrics                           Prometheus text format
//	GET  /v1/status                         Status
//	GET  /v1/members                        [Member]
//	POST /v1/blobs                          raw body, streamed → 201 PutResult
//	GET  /v1/blobs/{cid}  (and HEAD)        the blob; single byte ranges → 206
//	GET  /v1/locate/{cid}                   Location
//	GET  /ipfs/{cid}      (and HEAD)        trustless gateway: a raw block, a CAR, or the file
//	POST /v1/car                            a CAR, streamed → 201 ImportResult
//	POST /v1/namespaces   {"name"}          201 {"name","height","tx"}
//	POST /v1/records      {"namespace","key","cid"}  201 {"height","tx"}
//	GET  /v1/records/{namespace}/{key...}   Record (the key may contain '/')
//
// Every response carries X-Request-Id: the request's own when it has 1 to
// 128 printable ASCII characters without spaces, else 16 random bytes in
// hex. Node methods can read it with RequestID(ctx).
//
// # Gateway
//
// GET /ipfs/{cid} follows the IPFS trustless gateway spec (gateway.go). The
// answer's format comes from ?format=raw|car, else the Accept header
// (highest q): application/vnd.ipld.raw is the one block named, served
// with Range (Node.GetBlock); application/vnd.ipld.car (version=1) is a
// CARv1 of the DAG, depth first, no duplicates, with dag-scope all, entity
// (entity-bytes=from:to) or block; application/octet-stream, */* or no
// Accept is the file, served as /v1/blobs is but with its Content-Type
// sniffed. Any other Accept is 406 with code INVALID_ARGUMENT and the list
// of served types. A CAR that fails after its first bytes aborts the
// connection, as a blob does. POST /v1/car hands the body to
// Node.ImportCAR under the same body limit and rules as a put.
//
// # Errors
//
// Errors are {"error":{"code","message","request_id"}}. One function,
// codeFor, maps an error onto the taxonomy by errors.Is against the root
// package's kinds: INVALID_ARGUMENT 400, NOT_FOUND 404, CONFLICT 409,
// TOO_LARGE 413 (also *http.MaxBytesError), OVERLOADED 503 with
// Retry-After: 1, UNAVAILABLE 503, TIMEOUT 504 (also
// context.DeadlineExceeded), INTERNAL 500. An integrity failure is INTERNAL
// with a message that starts "integrity check failed"; any other INTERNAL
// message is generic and the real error is logged with the request id.
// Three answers lie outside the taxonomy's status codes and use its JSON
// shape: an unknown route is 404 NOT_FOUND; a known path with the wrong
// method is 405 with code INVALID_ARGUMENT and an Allow header; an
// unsatisfiable range is 416 with code INVALID_ARGUMENT and
// "Content-Range: bytes */<size>". A not-ready /health/ready (503) carries
// the checks and an "error" object with code UNAVAILABLE.
//
// # Blobs
//
// Uploads stream: the body goes to Node.PutBlob through an
// http.MaxBytesReader (Config.MaxBodyBytes; a larger Content-Length is
// refused before any body is read). If reading the body failed — over the
// limit, or the client went away — the answer is an error (413, or 400)
// even if the node claimed success, so nothing partial is acknowledged.
//
// Downloads send Content-Length, Accept-Ranges: bytes, ETag (the quoted
// root CID), Content-Type: application/octet-stream and an immutable
// Cache-Control; If-None-Match gives 304 and If-Range is honoured. One range
// "bytes=a-b", "bytes=a-" or "bytes=-n" is answered 206 with Content-Range
// (b past the end is clamped). A range starting at or past the end, a
// malformed byte range, a suffix of 0 bytes or any range of an empty blob
// is 416. Several ranges, or a unit other than bytes, are ignored and the
// whole blob is sent with 200. The first 32 KiB are read before the headers
// go out, so a blob whose first block is missing or corrupt gets a proper
// JSON error. A failure after that cannot change the status: the handler
// aborts the connection (http.ErrAbortHandler), so the client sees a broken
// transfer, never wrong or short bytes passed off as success.
//
// # Limits and middleware
//
// In order around the router: request id; metrics
// (xnode_http_requests_total{route,method,code},
// xnode_http_request_duration_seconds{route,method}, route being the mux
// pattern or "unmatched") and a Debug access log; panic recovery (500
// INTERNAL, the server keeps serving; after the headers went out the
// connection is aborted); the in-flight limit (Config.MaxInFlight, beyond it
// 503 OVERLOADED with Retry-After: 1; health and metrics are exempt). JSON
// bodies are capped at Config.MaxJSONBytes and decoded with unknown fields
// refused. Non-streaming calls run under Config.RequestTimeout.
//
// # Client
//
// NewClient(baseURL, httpClient) returns a Client with a method per route.
// Error answers come back as *Error, whose Is maps the code back onto the
// root package's kinds, so errors.Is(err, xnode.ErrNotFound) works on the
// client side too. A failure to connect wraps ErrUnreachable (itself an
// xnode.ErrUnavailable) and names the URL, so the CLI can suggest starting a
// node or passing --api. Put streams (chunked when the size is unknown, with
// Expect: 100-continue when known); Get and GetRange report a transfer that
// broke off as an error.
//
// # Concurrency
//
// Server and Client are safe for concurrent use. Node methods are called
// concurrently from request goroutines, each with the request's context.
//
// # Imports
//
// This package imports only the root package (error kinds) and block (CID
// parsing) from the project; never overlay, storage or the adapters.
package api
