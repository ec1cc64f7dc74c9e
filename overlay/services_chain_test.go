package overlay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
)

// A namespace's owner publishes a service from its node; another node
// calls it by name through its gateway and through a forwarded port; a
// node the namespace does not allow is refused at once; an unknown service
// answers 404.
func TestServicesOnChainAuthority(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node network")
	}
	nodes := localnet.StartInProcess(t, 3, localnet.InProcessOptions{Validators: 1})
	owner, other, caller := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := owner.RegisterNamespace(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s from %s caller=%s", r.URL.Path, "owner", r.Header.Get("X-Xnode-Caller"))
	}))
	defer web.Close()
	target := strings.TrimPrefix(web.URL, "http://")

	oc, err := api.NewClient(owner.APIURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 30*time.Second, func() bool {
		return oc.Expose(ctx, api.ExposeRequest{Service: "acme/web", Target: target, Tags: map[string]string{"zone": "a"}}) == nil
	}, "the owner's node exposes acme/web")

	// A node registered by another account, not allowed: refused at once.
	xc, _ := api.NewClient(other.APIURL(), nil)
	err = xc.Expose(ctx, api.ExposeRequest{Service: "acme/web", Target: target})
	if !errors.Is(err, xnode.ErrConflict) || !strings.Contains(err.Error(), "xnode ns allow acme") {
		t.Fatalf("expose by a node acme does not allow: %v", err)
	}
	if err := xc.Expose(ctx, api.ExposeRequest{Service: "nosuchns/web", Target: target}); !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("expose in an unregistered namespace: %v", err)
	}

	cc, _ := api.NewClient(caller.APIURL(), nil)
	tu.Eventually(t, 60*time.Second, func() bool {
		e, err := cc.ServiceInstances(ctx, "acme/web")
		return err == nil && len(e.Instances) == 1 && e.Instances[0].Healthy
	}, "the caller's catalog holds the instance")
	resp, err := cc.CallService(ctx, http.MethodGet, "acme/web", "greet?x=1", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "hello /greet from owner caller="+caller.ID().String()) {
		t.Fatalf("call through the gateway: %d %q", resp.StatusCode, body)
	}
	cat, err := cc.Services(ctx)
	if err != nil || len(cat.Services) != 1 || cat.Services[0].Name != "acme/web" {
		t.Fatalf("GET /v1/services: %+v %v", cat, err)
	}

	// Through a forwarded port.
	fw, err := cc.Forward(ctx, api.ForwardRequest{Service: "acme/web", Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := http.Get("http://" + fw.Listen + "/fw")
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := io.ReadAll(r2.Body)
	r2.Body.Close()
	if !strings.Contains(string(b2), "hello /fw from owner") {
		t.Fatalf("through the forward: %q", b2)
	}
	if err := cc.CloseForward(ctx, fw.Listen); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", fw.Listen); err == nil {
		c.Close()
		t.Fatal("a closed forward still accepts")
	}

	// Bad input.
	if _, err := cc.CallService(ctx, http.MethodGet, "acme/nosuch", "", nil, nil); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("unknown service: %v, want NOT_FOUND", err)
	}
	var ae *api.Error
	_, err = cc.CallService(ctx, http.MethodGet, "acme/web", "", nil, http.Header{"X-Xnode-Tags": {"zone=b"}})
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusServiceUnavailable || ae.RetryAfter == 0 {
		t.Fatalf("no matching instance: %v, want 503 with Retry-After", err)
	}
	if err := oc.Unexpose(ctx, "acme/web"); err != nil {
		t.Fatal(err)
	}
	if err := oc.Unexpose(ctx, "acme/web"); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("unexpose twice: %v", err)
	}
	tu.Eventually(t, 30*time.Second, func() bool {
		_, err := cc.ServiceInstances(ctx, "acme/web")
		return errors.Is(err, xnode.ErrNotFound)
	}, "the withdrawn instance leaves the caller's catalog")
}
