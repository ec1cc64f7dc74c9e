package api

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode"
)

func TestClientUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	c, err := NewClient(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(t.Context())
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, xnode.ErrUnavailable) {
		t.Fatalf("Status against a closed port: %v", err)
	}
	if !strings.Contains(err.Error(), url) {
		t.Errorf("error %q does not name %s", err, url)
	}
	var ae *Error
	if errors.As(err, &ae) {
		t.Errorf("a connection failure is not a server answer: %#v", ae)
	}
	if _, err := c.Put(t.Context(), strings.NewReader("x")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Put: %v", err)
	}
	if err := c.Live(t.Context()); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Live: %v", err)
	}
}

func TestNewClientValidates(t *testing.T) {
	for _, bad := range []string{"", "ftp://host:1", "http://", "http://h:1/?q=1", "http://h:1/#frag", "http://u:p@h:1", "::nope"} {
		if _, err := NewClient(bad, nil); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("NewClient(%q): %v", bad, err)
		}
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":       "http://127.0.0.1:8080",
		"127.0.0.1:9000":               "http://127.0.0.1:9000",
		"https://node.example/prefix/": "https://node.example/prefix",
	} {
		c, err := NewClient(in, nil)
		if err != nil || c.BaseURL() != want {
			t.Errorf("NewClient(%q): %v %v, want %s", in, c, err, want)
		}
	}
}

// An answer without the JSON envelope (a proxy's page) still maps onto the
// taxonomy by status.
func TestClientNonJSONErrors(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status":
			w.Header().Set(requestIDHeader, "proxy-1")
			w.Header().Set("Retry-After", "7")
			http.Error(w, "<html>busy</html>", http.StatusServiceUnavailable)
		case "/v1/members":
			http.Error(w, "bad gateway", http.StatusBadGateway)
		case "/v1/locate/x":
			w.Header().Set(requestIDHeader, "proxy-2")
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(ts.Close)
	c, err := NewClient(ts.URL+"/", ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Status(t.Context())
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeOverloaded || ae.RetryAfter != 7*time.Second ||
		ae.RequestID != "proxy-1" || !strings.Contains(ae.Message, "busy") || !errors.Is(err, xnode.ErrOverloaded) {
		t.Errorf("503 page: %#v", err)
	}
	_, err = c.Members(t.Context())
	if !errors.As(err, &ae) || ae.Code != CodeInternal || ae.HTTPStatus != 502 || errors.Is(err, xnode.ErrIntegrity) {
		t.Errorf("502 page: %#v", err)
	}
	if _, err := c.Locate(t.Context(), "x"); !errors.Is(err, xnode.ErrNotFound) {
		t.Errorf("404 page: %v", err)
	}
	// A 404 with neither envelope nor request id is not an xnode API at all
	// (CometBFT's RPC port, another server): not a missing CID.
	if _, err := c.Locate(t.Context(), "y"); !errors.Is(err, ErrNotAPI) || !errors.Is(err, xnode.ErrUnavailable) ||
		errors.Is(err, xnode.ErrNotFound) || !strings.Contains(err.Error(), "404 page not found") {
		t.Errorf("404 from something else: %v", err)
	}
	if !strings.Contains(ae.Error(), "INTERNAL (502)") {
		t.Errorf("Error() = %q", ae.Error())
	}
}

// Put learns a regular file's size (so the node can refuse it before it is
// sent) and leaves the file open for its owner.
func TestClientPutFile(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.MaxBodyBytes = 1000 })
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, randomBytes(5000, 9), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := sizeOf(f); got != 5000 {
		t.Fatalf("sizeOf file = %d", got)
	}
	if _, err := f.Seek(4500, 0); err != nil {
		t.Fatal(err)
	}
	if got := sizeOf(f); got != 500 {
		t.Fatalf("sizeOf after seek = %d", got)
	}
	res, err := h.client.Put(t.Context(), f)
	if err != nil || res.Size != 500 {
		t.Fatalf("Put of the file's tail: %+v %v", res, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		t.Fatalf("file closed by Put: %v", err)
	}
	if _, err := h.client.Put(t.Context(), f); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("Put of the whole file: %v", err)
	}
	if calls, _, _ := h.node.putState(); calls != 1 {
		t.Errorf("node saw %d puts; the oversized file should be refused by its declared size", calls)
	}
}

func TestReadSize(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want int
	}{
		{-1, getReadSize}, // length unknown
		{0, 512},
		{300, 512},
		{100_000, 100_000},
		{getReadSize, getReadSize},
		{64 << 20, getReadSize},
	} {
		if got := readSize(c.n); got != c.want {
			t.Errorf("readSize(%d) = %d, want %d", c.n, got, c.want)
		}
	}
}
