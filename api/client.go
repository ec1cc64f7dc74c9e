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
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/xnode/xnode"
)

// Client talks to a node's HTTP API. It is safe for concurrent use.
//
// Every method returns an *Error for an error answer (errors.Is works with
// the xnode kinds), an error wrapping ErrUnreachable when no connection
// could be made, and otherwise a wrapped transport or decoding error.
type Client struct {
	base *url.URL
	hc   *http.Client
}

// maxErrorBody caps how much of an error answer the client reads.
const maxErrorBody = 64 << 10

// NewClient returns a client for the node at baseURL, e.g.
// "http://127.0.0.1:8080"; a bare host:port means http, a path prefix is
// kept. httpClient nil means a
// client without an overall timeout, since blob transfers stream; bound
// calls with their ctx.
func NewClient(baseURL string, httpClient *http.Client) (*Client, error) {
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL // "127.0.0.1:8080" is what people type
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("api: %w: base URL %q: %v", xnode.ErrInvalidArgument, baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("api: %w: base URL %q: want http:// or https://", xnode.ErrInvalidArgument, baseURL)
	}
	if u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("api: %w: base URL %q: want scheme://host:port[/prefix]", xnode.ErrInvalidArgument, baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return &Client{base: u, hc: httpClient}, nil
}

// BaseURL is the node's URL as given to NewClient, without a trailing slash.
func (c *Client) BaseURL() string { return c.base.String() }

// Live checks GET /health/live.
func (c *Client) Live(ctx context.Context) error {
	return c.doJSON(ctx, http.MethodGet, "/health/live", nil, http.StatusOK, nil)
}

// Ready returns the node's readiness checks and whether all pass. A node
// that is up but not ready is not an error: ok is false.
func (c *Client) Ready(ctx context.Context) (checks []Check, ok bool, err error) {
	resp, err := c.do(ctx, http.MethodGet, "/health/ready", nil, -1, nil)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return nil, false, c.errorFrom(resp)
	}
	var rd Readiness
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&rd); err != nil {
		return nil, false, fmt.Errorf("api: GET /health/ready: decode answer: %w", err)
	}
	return rd.Checks, rd.Ready && resp.StatusCode == http.StatusOK, nil
}

// Status returns GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.doJSON(ctx, http.MethodGet, "/v1/status", nil, http.StatusOK, &st)
	return st, err
}

// Members returns GET /v1/members: the members, without observers.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var ms []Member
	err := c.doJSON(ctx, http.MethodGet, "/v1/members", nil, http.StatusOK, &ms)
	return ms, err
}

// AllMembers returns GET /v1/members?all=true: the members and the
// observers (State MemberObserver).
func (c *Client) AllMembers(ctx context.Context) ([]Member, error) {
	var ms []Member
	err := c.doJSON(ctx, http.MethodGet, "/v1/members?all=true", nil, http.StatusOK, &ms)
	return ms, err
}

// Put stores the blob read from r, streaming it. The size is sent when it
// can be known without reading (a regular *os.File, *bytes.Reader, ...);
// otherwise the body goes chunked. Use PutSize when the caller knows it.
func (c *Client) Put(ctx context.Context, r io.Reader) (PutResult, error) {
	return c.PutSize(ctx, r, sizeOf(r))
}

// PutSize is Put with the body's size given; size < 0 means unknown. A
// known size lets the node refuse an oversized blob before it is sent.
func (c *Client) PutSize(ctx context.Context, r io.Reader, size int64) (PutResult, error) {
	var res PutResult
	hdr := http.Header{"Content-Type": {"application/octet-stream"}}
	if size > 0 {
		// The node may refuse (too large, unavailable) before any body
		// byte is sent.
		hdr.Set("Expect", "100-continue")
	}
	// Hide Close: the transport closes a body it owns, and r stays the
	// caller's.
	resp, err := c.do(ctx, http.MethodPost, "/v1/blobs", io.NopCloser(r), size, hdr)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	return res, c.decode(resp, http.StatusCreated, &res)
}

// sizeOf is the number of bytes left in r, or -1 when that is unknown.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case *bytes.Reader:
		return int64(v.Len())
	case *bytes.Buffer:
		return int64(v.Len())
	case *strings.Reader:
		return int64(v.Len())
	case *os.File:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		pos, err := v.Seek(0, io.SeekCurrent)
		if err != nil || pos > fi.Size() {
			return -1
		}
		return fi.Size() - pos
	}
	return -1
}

// Get writes the whole blob named cid to w and returns the bytes written.
// A transfer that breaks off (the node found a corrupt block mid-stream, the
// connection dropped) is an error, never a short success.
func (c *Client) Get(ctx context.Context, cid string, w io.Writer) (int64, error) {
	return c.get(ctx, cid, 0, -1, w)
}

// GetRange writes n bytes of the blob from off to w; n < 0 means to the end.
func (c *Client) GetRange(ctx context.Context, cid string, off, n int64, w io.Writer) (int64, error) {
	if off < 0 {
		return 0, fmt.Errorf("api: %w: negative offset %d", xnode.ErrInvalidArgument, off)
	}
	if n == 0 {
		return 0, nil
	}
	return c.get(ctx, cid, off, n, w)
}

func (c *Client) get(ctx context.Context, cid string, off, n int64, w io.Writer) (int64, error) {
	path, err := blobPath(cid)
	if err != nil {
		return 0, err
	}
	hdr := http.Header{}
	ranged := off > 0 || n > 0
	if ranged {
		spec := fmt.Sprintf("bytes=%d-", off)
		if n > 0 {
			spec += strconv.FormatInt(off+n-1, 10)
		}
		hdr.Set("Range", spec)
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil, -1, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body := io.Reader(resp.Body)
	switch {
	case resp.StatusCode == http.StatusPartialContent && ranged:
		if got := contentRangeStart(resp.Header.Get("Content-Range")); got != off {
			return 0, fmt.Errorf("api: GET %s: node answered range from %d, asked %d", path, got, off)
		}
	case resp.StatusCode == http.StatusOK:
		if ranged { // the node ignored the range: cut it out ourselves
			if _, err := io.CopyN(io.Discard, body, off); err != nil {
				return 0, fmt.Errorf("api: GET %s: skip to %d: %w", path, off, err)
			}
			if n > 0 {
				body = io.LimitReader(body, n)
			}
		}
	default:
		return 0, c.errorFrom(resp)
	}
	written, err := io.CopyBuffer(writerOnly{w}, body, make([]byte, readSize(resp.ContentLength)))
	if err != nil {
		return written, fmt.Errorf("api: GET %s: transfer broke off after %d bytes: %w", path, written, err)
	}
	if resp.StatusCode == http.StatusPartialContent || !ranged {
		if resp.ContentLength >= 0 && written != resp.ContentLength {
			return written, fmt.Errorf("api: GET %s: got %d of %d bytes: %w", path, written, resp.ContentLength, io.ErrUnexpectedEOF)
		}
	}
	return written, nil
}

// getReadSize is how much a get reads from the connection at once. io.Copy
// would read the body in the destination's own steps (8 KiB for io.Discard,
// 32 KiB for a file): one system call each, which at a gigabyte per second
// costs more CPU than the copy itself.
const getReadSize = 256 << 10

// readSize is the copy buffer for a body of n bytes (n < 0: unknown):
// getReadSize, or less for a body known to be smaller.
func readSize(n int64) int {
	if n >= 0 && n < getReadSize {
		return int(max(n, 512))
	}
	return getReadSize
}

// writerOnly hides a writer's ReadFrom, so that io.CopyBuffer uses the
// buffer it is given.
type writerOnly struct{ io.Writer }

// contentRangeStart reads the first byte position of "bytes a-b/size", or -1.
func contentRangeStart(v string) int64 {
	v, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return -1
	}
	a, _, ok := strings.Cut(v, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// Head returns the size of the blob named cid without fetching it.
func (c *Client) Head(ctx context.Context, cid string) (int64, error) {
	path, err := blobPath(cid)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, http.MethodHead, path, nil, -1, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, c.errorFrom(resp)
	}
	return resp.ContentLength, nil
}

// Locate returns GET /v1/locate/{cid}.
func (c *Client) Locate(ctx context.Context, cid string) (Location, error) {
	var loc Location
	if cid == "" {
		return loc, fmt.Errorf("api: %w: empty CID", xnode.ErrInvalidArgument)
	}
	err := c.doJSON(ctx, http.MethodGet, "/v1/locate/"+url.PathEscape(cid), nil, http.StatusOK, &loc)
	return loc, err
}

// RegisterNamespace claims name; it answers as SubmitTx does.
func (c *Client) RegisterNamespace(ctx context.Context, name string) (TxResult, error) {
	return c.submitJSON(ctx, "/v1/namespaces", namespaceRequest{Name: name})
}

// SubmitRecord records namespace/key → cid; it answers as SubmitTx does.
func (c *Client) SubmitRecord(ctx context.Context, namespace, key, cid string) (TxResult, error) {
	return c.submitJSON(ctx, "/v1/records", recordRequest{Namespace: namespace, Key: key, CID: cid})
}

// Record returns the committed record namespace/key (key may contain '/').
func (c *Client) Record(ctx context.Context, namespace, key string) (Record, error) {
	var rec Record
	if namespace == "" || key == "" {
		return rec, fmt.Errorf("api: %w: record name %q/%q: namespace and key must be non-empty",
			xnode.ErrInvalidArgument, namespace, key)
	}
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	path := "/v1/records/" + url.PathEscape(namespace) + "/" + strings.Join(segs, "/")
	err := c.doJSON(ctx, http.MethodGet, path, nil, http.StatusOK, &rec)
	return rec, err
}

func blobPath(cid string) (string, error) {
	if cid == "" {
		return "", fmt.Errorf("api: %w: empty CID", xnode.ErrInvalidArgument)
	}
	return "/v1/blobs/" + url.PathEscape(cid), nil
}

// doJSON sends in (if not nil) as JSON and decodes a want-status answer
// into out (if not nil).
func (c *Client) doJSON(ctx context.Context, method, path string, in any, want int, out any) error {
	var body io.Reader
	size := int64(-1)
	var hdr http.Header
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: %s %s: encode request: %w", method, path, err)
		}
		body, size = bytes.NewReader(b), int64(len(b))
		hdr = http.Header{"Content-Type": {"application/json"}}
	}
	resp, err := c.do(ctx, method, path, body, size, hdr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.decode(resp, want, out)
}

func (c *Client) decode(resp *http.Response, want int, out any) error {
	if resp.StatusCode != want {
		return c.errorFrom(resp)
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: decode answer: %w", resp.Request.Method, resp.Request.URL.Path, err)
	}
	return nil
}

// do sends one request. size < 0 with a body means unknown (chunked).
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, size int64, hdr http.Header) (*http.Response, error) {
	// path arrives escaped; keep it so (a '%' or '?' inside a key). An
	// unescaped '?' can thus only start a query (?prove=true).
	path, query, _ := strings.Cut(path, "?")
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	u := *c.base
	u.Path, u.RawPath = c.base.Path+unescaped, c.base.EscapedPath()+path
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.ContentLength = size
		if size == 0 {
			req.Body = http.NoBody
		}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if unreachable(err) {
			return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
		}
		return nil, fmt.Errorf("api: %s %s: %w", method, u.Redacted(), err)
	}
	return resp, nil
}

// unreachable reports whether err means no connection was made at all.
func unreachable(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// errorFrom turns an error answer into an *Error, reading the JSON envelope
// when there is one.
func (c *Client) errorFrom(resp *http.Response) error {
	e := &Error{
		HTTPStatus: resp.StatusCode,
		RequestID:  resp.Header.Get(requestIDHeader),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After")),
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var env errorEnvelope
	if json.Unmarshal(b, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message = env.Error.Code, env.Error.Message
		if env.Error.RequestID != "" {
			e.RequestID = env.Error.RequestID
		}
		return e
	}
	e.Message = strings.TrimSpace(string(b))
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	if len(e.Message) > 200 {
		e.Message = e.Message[:200] + "..."
	}
	if resp.StatusCode == http.StatusNotFound && e.RequestID == "" {
		return fmt.Errorf("%w at %s: it answered %q to %s", ErrNotAPI, c.base, e.Message, resp.Request.URL.Path)
	}
	e.Code = codeForStatus(resp.StatusCode)
	if resp.StatusCode == http.StatusServiceUnavailable && e.RetryAfter > 0 {
		e.Code = CodeOverloaded
	}
	return e
}
