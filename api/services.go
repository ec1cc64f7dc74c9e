package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/service"
)

// ServicePlane is implemented by a Node that runs the service plane. The
// API serves /v1/services… and the gateway /v1/svc/… only from such a node
// (UNAVAILABLE otherwise).
type ServicePlane interface {
	// ServiceCatalog lists every known service with its instances.
	ServiceCatalog(ctx context.Context) ([]ServiceEntry, error)
	// ServiceInstances lists one service's instances; an unknown service
	// wraps xnode.ErrNotFound.
	ServiceInstances(ctx context.Context, name string) ([]service.Stats, error)
	// CallService forwards r to an instance of name at path and streams the
	// answer into w. It returns an error only before it wrote anything.
	CallService(w http.ResponseWriter, r *http.Request, name, path string) error
	// ExposeService announces an instance served by this node; a namespace
	// that does not allow this node wraps xnode.ErrConflict.
	ExposeService(ctx context.Context, e ExposeRequest) error
	// UnexposeService stops announcing it.
	UnexposeService(ctx context.Context, name string) error
	// ForwardService tunnels a local port to the service.
	ForwardService(ctx context.Context, f ForwardRequest) (ForwardRequest, error)
	// CloseForward stops the forwarding on listen.
	CloseForward(ctx context.Context, listen string) error
}

// HeaderGatewayError marks an answer of the gateway itself (no such
// service, no healthy instance, timeout), as opposed to the target's.
const HeaderGatewayError = "X-Xnode-Gateway-Error"

// ServiceEntry is one service of GET /v1/services.
type ServiceEntry struct {
	Name      string          `json:"name"`
	Instances []service.Stats `json:"instances"`
}

// ServiceCatalogAnswer is the answer of GET /v1/services.
type ServiceCatalogAnswer struct {
	Services []ServiceEntry `json:"services"`
	// Exposed are this node's own exposures, Forwards its forwarded ports.
	Exposed  []ExposeRequest  `json:"exposed"`
	Forwards []ForwardRequest `json:"forwards"`
}

// ExposeRequest is the body of POST /v1/services/expose.
type ExposeRequest struct {
	Service string            `json:"service"`
	Target  string            `json:"target"`
	Proto   string            `json:"proto,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Check   string            `json:"check,omitempty"`
	Weight  int               `json:"weight,omitempty"`
}

// ForwardRequest is the body of POST /v1/services/forward (and its answer,
// with Listen the bound address).
type ForwardRequest struct {
	Service string            `json:"service"`
	Listen  string            `json:"listen"`
	Tags    map[string]string `json:"tags,omitempty"`
}

// ServiceLister is optionally implemented by a ServicePlane to add the
// node's exposures and forwards to GET /v1/services.
type ServiceLister interface {
	ServiceLocal(ctx context.Context) ([]ExposeRequest, []ForwardRequest)
}

func (s *Server) servicePlane() (ServicePlane, error) {
	p, ok := s.node.(ServicePlane)
	if !ok {
		return nil, fmt.Errorf("api: %w: this node does not run the service plane", xnode.ErrUnavailable)
	}
	return p, nil
}

// handleServiceCall serves ANY /v1/svc/{namespace}/{service}/{path...}.
func (s *Server) handleServiceCall(w http.ResponseWriter, r *http.Request) {
	p, err := s.servicePlane()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.PathValue("namespace") + "/" + r.PathValue("service")
	if err := p.CallService(w, r, name, r.PathValue("path")); err != nil {
		s.writeServiceError(w, r, err)
	}
}

// writeServiceError answers like writeError, with Retry-After on
// UNAVAILABLE (no healthy instance: try again shortly).
func (s *Server) writeServiceError(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set(HeaderGatewayError, "1")
	if errors.Is(err, xnode.ErrUnavailable) {
		w.Header().Set("Retry-After", "1")
	}
	s.writeError(w, r, err)
}

// handleServices serves GET /v1/services.
func (s *Server) handleServices(w http.ResponseWriter, r *http.Request) {
	p, err := s.servicePlane()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cat, err := p.ServiceCatalog(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ans := ServiceCatalogAnswer{Services: cat, Exposed: []ExposeRequest{}, Forwards: []ForwardRequest{}}
	if l, ok := p.(ServiceLister); ok {
		ans.Exposed, ans.Forwards = l.ServiceLocal(r.Context())
	}
	s.writeJSON(w, r, http.StatusOK, ans)
}

// handleServiceInstances serves GET /v1/services/{namespace}/{service}.
func (s *Server) handleServiceInstances(w http.ResponseWriter, r *http.Request) {
	p, err := s.servicePlane()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	name := r.PathValue("namespace") + "/" + r.PathValue("service")
	ins, err := p.ServiceInstances(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, ServiceEntry{Name: name, Instances: ins})
}

// servicePost serves a POST of the service plane: it decodes the JSON body
// into req, then answers 200 with what act returns, or act's error.
func (s *Server) servicePost(w http.ResponseWriter, r *http.Request, req any, act func(ServicePlane) (any, error)) {
	p, err := s.servicePlane()
	if err == nil {
		err = s.decodeJSON(w, r, req)
	}
	var ans any
	if err == nil {
		ans, err = act(p)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, r, http.StatusOK, ans)
}

// handleExpose serves POST /v1/services/expose.
func (s *Server) handleExpose(w http.ResponseWriter, r *http.Request) {
	var req ExposeRequest
	s.servicePost(w, r, &req, func(p ServicePlane) (any, error) {
		if err := requireFields("service", req.Service, "target", req.Target); err != nil {
			return nil, err
		}
		return req, p.ExposeService(r.Context(), req)
	})
}

// handleUnexpose serves POST /v1/services/unexpose {"service": ...}.
func (s *Server) handleUnexpose(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Service string `json:"service"`
	}
	s.servicePost(w, r, &req, func(p ServicePlane) (any, error) {
		if err := requireFields("service", req.Service); err != nil {
			return nil, err
		}
		return req, p.UnexposeService(r.Context(), req.Service)
	})
}

// handleForward serves POST /v1/services/forward.
func (s *Server) handleForward(w http.ResponseWriter, r *http.Request) {
	var req ForwardRequest
	s.servicePost(w, r, &req, func(p ServicePlane) (any, error) {
		if err := requireFields("service", req.Service, "listen", req.Listen); err != nil {
			return nil, err
		}
		return p.ForwardService(r.Context(), req)
	})
}

// handleCloseForward serves POST /v1/services/forward/close {"listen": ...}.
func (s *Server) handleCloseForward(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Listen string `json:"listen"`
	}
	s.servicePost(w, r, &req, func(p ServicePlane) (any, error) {
		if err := requireFields("listen", req.Listen); err != nil {
			return nil, err
		}
		return req, p.CloseForward(r.Context(), req.Listen)
	})
}

// requireFields refuses the first empty value of (name, value) pairs.
func requireFields(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return missingField(pairs[i])
		}
	}
	return nil
}
