package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/service"
)

// svcNode is a fake service plane: acme/web answers, acme/down has no
// healthy instance, acme/hang times out, anything else is unknown.
type svcNode struct {
	*fakeNode
	exposed []ExposeRequest
}

func (n *svcNode) ServiceCatalog(context.Context) ([]ServiceEntry, error) {
	return []ServiceEntry{{Name: "acme/web", Instances: []service.Stats{{Instance: service.Instance{Service: "acme/web", ID: "i1", Peer: "p1", Proto: "http", Healthy: true}}}}}, nil
}

func (n *svcNode) ServiceInstances(_ context.Context, name string) ([]service.Stats, error) {
	if name != "acme/web" {
		return nil, fmt.Errorf("fake: %w: %s", xnode.ErrNotFound, name)
	}
	cat, _ := n.ServiceCatalog(context.Background())
	return cat[0].Instances, nil
}

func (n *svcNode) CallService(w http.ResponseWriter, r *http.Request, name, path string) error {
	switch name {
	case "acme/web":
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTeapot) // the target's own answer, passed through
		fmt.Fprintf(w, `{"error":{"code":"X"}} %s /%s?%s %s`, r.Method, path, r.URL.RawQuery, b)
		return nil
	case "acme/down":
		return fmt.Errorf("fake: %w: no healthy instance", xnode.ErrUnavailable)
	case "acme/hang":
		return fmt.Errorf("fake: %w: no answer", xnode.ErrTimeout)
	}
	return fmt.Errorf("fake: %w: unknown service %s", xnode.ErrNotFound, name)
}

func (n *svcNode) ExposeService(_ context.Context, e ExposeRequest) error {
	if strings.HasPrefix(e.Service, "other/") {
		return fmt.Errorf("fake: namespace does not allow this node: %w", xnode.ErrConflict)
	}
	n.exposed = append(n.exposed, e)
	return nil
}
func (n *svcNode) UnexposeService(context.Context, string) error { return nil }
func (n *svcNode) ForwardService(_ context.Context, f ForwardRequest) (ForwardRequest, error) {
	f.Listen = "127.0.0.1:1234"
	return f, nil
}
func (n *svcNode) CloseForward(context.Context, string) error { return nil }

func TestServiceRoutes(t *testing.T) {
	node := &svcNode{fakeNode: newFakeNode()}
	c := newAcctHarness(t, node)
	ctx := context.Background()

	// The target's answers pass through untouched, even a JSON error.
	resp, err := c.CallService(ctx, http.MethodPost, "acme/web", "a/b?x=1", strings.NewReader("body"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || !strings.HasSuffix(string(b), "POST /a/b?x=1 body") {
		t.Fatalf("gateway: %d %q", resp.StatusCode, b)
	}
	for _, tc := range []struct {
		name   string
		kind   error
		status int
	}{
		{"acme/nosuch", xnode.ErrNotFound, 404},
		{"acme/down", xnode.ErrUnavailable, 503},
		{"acme/hang", xnode.ErrTimeout, 504},
	} {
		_, err := c.CallService(ctx, http.MethodGet, tc.name, "", nil, nil)
		var ae *Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &ae) || ae.HTTPStatus != tc.status {
			t.Errorf("%s: %v, want %d", tc.name, err, tc.status)
		}
		if tc.status == 503 && ae != nil && ae.RetryAfter == 0 {
			t.Errorf("%s: no Retry-After", tc.name)
		}
	}
	if _, err := c.CallService(ctx, http.MethodGet, "nons", "", nil, nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("bad name: %v", err)
	}

	if err := c.Expose(ctx, ExposeRequest{Service: "acme/web", Target: "127.0.0.1:9"}); err != nil || len(node.exposed) != 1 {
		t.Fatalf("expose: %v", err)
	}
	if err := c.Expose(ctx, ExposeRequest{Service: "other/web", Target: "127.0.0.1:9"}); !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("expose refused: %v", err)
	}
	if err := c.Expose(ctx, ExposeRequest{Service: "acme/web"}); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("expose without target: %v", err)
	}
	cat, err := c.Services(ctx)
	if err != nil || len(cat.Services) != 1 || cat.Services[0].Instances[0].Peer != "p1" {
		t.Fatalf("services: %+v %v", cat, err)
	}
	if _, err := c.ServiceInstances(ctx, "acme/none"); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("instances of unknown: %v", err)
	}
	if f, err := c.Forward(ctx, ForwardRequest{Service: "acme/web", Listen: "127.0.0.1:0"}); err != nil || f.Listen != "127.0.0.1:1234" {
		t.Fatalf("forward: %+v %v", f, err)
	}
	if _, err := c.Forward(ctx, ForwardRequest{Service: "acme/web"}); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("forward without listen: %v", err)
	}
}

// Oversized headers and slow clients are bounded by the API server's limits;
// honest calls carry on.
func TestServiceGatewayHostileCallers(t *testing.T) {
	node := &svcNode{fakeNode: newFakeNode()}
	c := newAcctHarness(t, node)
	addr := c.base.Host
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /v1/svc/acme/web/ HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 1<<20))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line := make([]byte, 64)
	n, _ := conn.Read(line)
	conn.Close()
	if !strings.Contains(string(line[:n]), "431") {
		t.Fatalf("1 MiB of headers answered %q, want 431", line[:n])
	}
	// A slow client holds a connection but not the gateway.
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	_, _ = io.WriteString(slow, "GET /v1/svc/acme/web/ HTTP/1.1\r\nHost: x\r\n")
	resp, err := c.CallService(context.Background(), http.MethodGet, "acme/web", "ok", nil, nil)
	if err != nil {
		t.Fatalf("an honest call next to a slow client: %v", err)
	}
	resp.Body.Close()
}
