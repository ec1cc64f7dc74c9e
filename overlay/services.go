package overlay

import (
	"context"
	"fmt"
	"net/http"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/service"
	svcp2p "github.com/xnode/xnode/service/p2p"
)

// ServiceConfig is one [[service]] of config.toml: an instance this node
// exposes from start.
type ServiceConfig struct {
	// Name is NAMESPACE/SERVICE.
	Name string `toml:"name"`
	// Target is the local HOST:PORT.
	Target string `toml:"target"`
	// Proto is http (default) or tcp.
	Proto string `toml:"proto,omitempty"`
	// Tags are the instance's tags.
	Tags map[string]string `toml:"tags,omitempty"`
	// Check is tcp (default), http:/path or none.
	Check string `toml:"check,omitempty"`
	// Weight is the instance's weight (default 1).
	Weight int `toml:"weight,omitempty"`
}

func (s ServiceConfig) exposure() svcp2p.Exposure {
	return svcp2p.Exposure{Service: s.Name, Target: s.Target, Proto: s.Proto, Tags: s.Tags, Check: s.Check, Weight: s.Weight}
}

// startServices starts the service plane, drops the instances of members
// that fail or leave, and exposes the [[service]] entries of config.toml.
func (n *Node) startServices(ctx context.Context) error {
	cfg := svcp2p.Config{Network: n.chainID, Zone: n.cfg.Gossip.Tags["zone"]}
	auth := svcp2p.NewChainAuthoriser(n.queryJSON)
	var err error
	if n.services, err = svcp2p.New(cfg, n.host, n.ps, auth, n.reg, n.log); err != nil {
		return err
	}
	if err := n.services.Start(ctx); err != nil {
		return err
	}
	n.onClose(n.services.Close)
	events, cancel := n.members.Subscribe()
	n.goRun(func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Kind == gossip.EventFailed || ev.Kind == gossip.EventLeft {
					n.services.DropPeer(ev.Member.PeerID)
				}
			}
		}
	})
	for _, s := range n.cfg.Services {
		if err := n.services.Expose(ctx, s.exposure()); err != nil {
			n.log.Error("service from config.toml not exposed", "service", s.Name, "err", err)
		}
	}
	return nil
}

func (n *Node) plane() (*svcp2p.Plane, error) {
	if n.services == nil {
		return nil, fmt.Errorf("overlay: %w: the service plane is not running", xnode.ErrUnavailable)
	}
	return n.services, nil
}

// ServiceCatalog lists the known services (api.ServicePlane).
func (n *Node) ServiceCatalog(ctx context.Context) ([]api.ServiceEntry, error) {
	p, err := n.plane()
	if err != nil {
		return nil, err
	}
	out := []api.ServiceEntry{}
	for _, name := range p.Catalog().Services() {
		ins, err := p.Instances(name)
		if err != nil {
			continue // expired meanwhile
		}
		out = append(out, api.ServiceEntry{Name: name, Instances: ins})
	}
	return out, nil
}

// ServiceInstances lists a service's instances (api.ServicePlane).
func (n *Node) ServiceInstances(ctx context.Context, name string) ([]service.Stats, error) {
	p, err := n.plane()
	if err != nil {
		return nil, err
	}
	if _, _, err := service.ParseName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", xnode.ErrInvalidArgument, err)
	}
	return p.Instances(name)
}

// CallService is the gateway (api.ServicePlane).
func (n *Node) CallService(w http.ResponseWriter, r *http.Request, name, path string) error {
	p, err := n.plane()
	if err != nil {
		return err
	}
	return p.Call(w, r, name, path)
}

// ExposeService announces an instance (api.ServicePlane).
func (n *Node) ExposeService(ctx context.Context, e api.ExposeRequest) error {
	p, err := n.plane()
	if err != nil {
		return err
	}
	return p.Expose(ctx, svcp2p.Exposure{Service: e.Service, Target: e.Target, Proto: e.Proto, Tags: e.Tags, Check: e.Check, Weight: e.Weight})
}

// UnexposeService withdraws it (api.ServicePlane).
func (n *Node) UnexposeService(ctx context.Context, name string) error {
	p, err := n.plane()
	if err != nil {
		return err
	}
	return p.Unexpose(ctx, name)
}

// ForwardService tunnels a local port (api.ServicePlane).
func (n *Node) ForwardService(ctx context.Context, f api.ForwardRequest) (api.ForwardRequest, error) {
	p, err := n.plane()
	if err != nil {
		return api.ForwardRequest{}, err
	}
	fw, err := p.Forward(ctx, f.Service, f.Listen, f.Tags)
	if err != nil {
		return api.ForwardRequest{}, err
	}
	return api.ForwardRequest{Service: fw.Service, Listen: fw.Listen, Tags: fw.Tags}, nil
}

// CloseForward stops a forwarding (api.ServicePlane).
func (n *Node) CloseForward(ctx context.Context, listen string) error {
	p, err := n.plane()
	if err != nil {
		return err
	}
	return p.CloseForward(ctx, listen)
}

// ServiceLocal lists this node's exposures and forwards (api.ServiceLister).
func (n *Node) ServiceLocal(ctx context.Context) ([]api.ExposeRequest, []api.ForwardRequest) {
	ex, fw := []api.ExposeRequest{}, []api.ForwardRequest{}
	p, err := n.plane()
	if err != nil {
		return ex, fw
	}
	for _, e := range p.Exposed() {
		ex = append(ex, api.ExposeRequest{Service: e.Service, Target: e.Target, Proto: e.Proto, Tags: e.Tags, Check: e.Check, Weight: e.Weight})
	}
	for _, f := range p.Forwards() {
		fw = append(fw, api.ForwardRequest{Service: f.Service, Listen: f.Listen, Tags: f.Tags})
	}
	return ex, fw
}

var (
	_ api.ServicePlane  = (*Node)(nil)
	_ api.ServiceLister = (*Node)(nil)
)
