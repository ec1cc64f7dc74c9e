package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/xnode/xnode"
)

// Services fetches GET /v1/services.
func (c *Client) Services(ctx context.Context) (ServiceCatalogAnswer, error) {
	var ans ServiceCatalogAnswer
	err := c.doJSON(ctx, http.MethodGet, "/v1/services", nil, http.StatusOK, &ans)
	return ans, err
}

func servicePath(name string) (string, error) {
	ns, svc, ok := strings.Cut(name, "/")
	if !ok || ns == "" || svc == "" || strings.Contains(svc, "/") {
		return "", fmt.Errorf("api: %w: service %q: want NAMESPACE/SERVICE", xnode.ErrInvalidArgument, name)
	}
	return url.PathEscape(ns) + "/" + url.PathEscape(svc), nil
}

// ServiceInstances fetches GET /v1/services/{namespace}/{service}.
func (c *Client) ServiceInstances(ctx context.Context, name string) (ServiceEntry, error) {
	var ans ServiceEntry
	p, err := servicePath(name)
	if err != nil {
		return ans, err
	}
	err = c.doJSON(ctx, http.MethodGet, "/v1/services/"+p, nil, http.StatusOK, &ans)
	return ans, err
}

// Expose asks the node to announce an instance.
func (c *Client) Expose(ctx context.Context, req ExposeRequest) error {
	return c.doJSON(ctx, http.MethodPost, "/v1/services/expose", req, http.StatusOK, nil)
}

// Unexpose asks the node to stop announcing its instance of name.
func (c *Client) Unexpose(ctx context.Context, name string) error {
	return c.doJSON(ctx, http.MethodPost, "/v1/services/unexpose", map[string]string{"service": name}, http.StatusOK, nil)
}

// Forward asks the node to tunnel a local port to a service; the answer
// carries the bound address.
func (c *Client) Forward(ctx context.Context, req ForwardRequest) (ForwardRequest, error) {
	var ans ForwardRequest
	err := c.doJSON(ctx, http.MethodPost, "/v1/services/forward", req, http.StatusOK, &ans)
	return ans, err
}

// CloseForward stops the forwarding on listen.
func (c *Client) CloseForward(ctx context.Context, listen string) error {
	return c.doJSON(ctx, http.MethodPost, "/v1/services/forward/close", map[string]string{"listen": listen}, http.StatusOK, nil)
}

// CallService calls name at path through the node's gateway. The caller
// closes the answer's body. A gateway error (no such service, no healthy
// instance, timeout) is returned as an *Error; the target's own answers,
// errors included, come back as they are.
func (c *Client) CallService(ctx context.Context, method, name, path string, body io.Reader, hdr http.Header) (*http.Response, error) {
	p, err := servicePath(name)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, method, "/v1/svc/"+p+"/"+strings.TrimPrefix(path, "/"), body, -1, hdr)
	if err != nil {
		return nil, err
	}
	if resp.Header.Get(HeaderGatewayError) != "" {
		defer resp.Body.Close()
		return nil, c.errorFrom(resp)
	}
	return resp, nil
}
