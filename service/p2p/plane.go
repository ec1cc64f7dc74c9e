package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	libp2phttp "github.com/libp2p/go-libp2p/p2p/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/service"
)

// Protocols and headers.
const (
	// HTTPProtocol names the service handler in the p2p/http well-known
	// map; requests travel on /http/1.1 streams under HTTPPath.
	HTTPProtocol = protocol.ID("/xnode/svc/1")
	HTTPPath     = "/xnode/svc/"
	// TCPProtocol is the plain stream protocol of tunnels.
	TCPProtocol = protocol.ID("/xnode/svc-tcp/1")
	// HeaderCaller names the calling peer to the target.
	HeaderCaller = "X-Xnode-Caller"
	// HeaderTimeout carries the milliseconds left of the caller's deadline.
	HeaderTimeout = "X-Xnode-Timeout"
	// HeaderTags is the gateway's tag filter, k=v,k2=v2.
	HeaderTags = "X-Xnode-Tags"
)

// Config tunes a Plane. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Network is the chain id; it names the gossip topic.
	Network string
	// Zone is this node's zone; calls prefer instances of the same zone.
	Zone string
	// AnnounceInterval is how often exposed instances are re-announced
	// (default 5 s); they expire after TTL (default 3 × the interval).
	AnnounceInterval time.Duration
	TTL              time.Duration
	// HealthInterval is how often local targets are checked (default 2 s).
	HealthInterval time.Duration
	// CallTimeout is a call's deadline when the caller gives none
	// (default 30 s).
	CallTimeout time.Duration
	// MaxAttempts bounds the attempts of one call (default 3).
	MaxAttempts int
	// MaxInbound bounds the calls this node serves at once for its
	// targets (default 1024); more are answered 503.
	MaxInbound int
	// Balancer tunes the core's balancer and outlier detector.
	Balancer service.Config
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{AnnounceInterval: 5 * time.Second, HealthInterval: 2 * time.Second, CallTimeout: 30 * time.Second, MaxAttempts: 3, MaxInbound: 1024}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.AnnounceInterval == 0 {
		c.AnnounceInterval = d.AnnounceInterval
	}
	if c.TTL == 0 {
		c.TTL = 3 * c.AnnounceInterval
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = d.HealthInterval
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxInbound == 0 {
		c.MaxInbound = d.MaxInbound
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Network == "":
		return fmt.Errorf("service: config: Network is required: %w", xnode.ErrInvalidArgument)
	case c.AnnounceInterval < 0, c.TTL < c.AnnounceInterval, c.TTL > gossip.MaxServiceTTL:
		return fmt.Errorf("service: config: want 0 < AnnounceInterval ≤ TTL ≤ %v: %w", gossip.MaxServiceTTL, xnode.ErrInvalidArgument)
	case c.HealthInterval < 0, c.CallTimeout < 0, c.MaxAttempts < 0, c.MaxInbound < 0:
		return fmt.Errorf("service: config: negative value: %w", xnode.ErrInvalidArgument)
	}
	return c.Balancer.Validate()
}

// Exposure is one instance this node serves.
type Exposure struct {
	// Service is NAMESPACE/SERVICE.
	Service string `json:"service" toml:"name"`
	// Target is the local HOST:PORT the calls go to.
	Target string `json:"target" toml:"target"`
	// Proto is http (default) or tcp.
	Proto string `json:"proto,omitempty" toml:"proto"`
	// Tags are the instance's tags.
	Tags map[string]string `json:"tags,omitempty" toml:"tags"`
	// Check is "" or "tcp" (dial the target), "http:/path" (GET, 2xx or
	// 3xx) or "none".
	Check string `json:"check,omitempty" toml:"check"`
	// Weight is the instance's weight (1 when 0).
	Weight int `json:"weight,omitempty" toml:"weight"`
}

// Normalize fills defaults and checks the fields.
func (e *Exposure) Normalize() error {
	if _, _, err := service.ParseName(e.Service); err != nil {
		return fmt.Errorf("%w: %w", xnode.ErrInvalidArgument, err)
	}
	if e.Proto == "" {
		e.Proto = service.ProtoHTTP
	}
	if e.Proto != service.ProtoHTTP && e.Proto != service.ProtoTCP {
		return fmt.Errorf("service: proto %q: want http or tcp: %w", e.Proto, xnode.ErrInvalidArgument)
	}
	if _, port, err := net.SplitHostPort(e.Target); err != nil || port == "" || port == "0" {
		return fmt.Errorf("service: target %q: want HOST:PORT: %w", e.Target, xnode.ErrInvalidArgument)
	}
	switch {
	case e.Check == "", e.Check == "tcp", e.Check == "none":
	case strings.HasPrefix(e.Check, "http:/"):
	default:
		return fmt.Errorf("service: check %q: want tcp, http:/path or none: %w", e.Check, xnode.ErrInvalidArgument)
	}
	if e.Weight < 0 || e.Weight > service.MaxWeight {
		return fmt.Errorf("service: weight %d: want 0..%d: %w", e.Weight, service.MaxWeight, xnode.ErrInvalidArgument)
	}
	in := service.Instance{Service: e.Service, ID: "x", Peer: "x", Proto: e.Proto, Tags: e.Tags, Weight: e.Weight}
	if err := in.Validate(); err != nil {
		return fmt.Errorf("%w: %w", xnode.ErrInvalidArgument, err)
	}
	return nil
}

type exposed struct {
	Exposure
	id      string
	healthy bool
	sem     chan struct{}
}

// Plane is the service plane of one node.
type Plane struct {
	cfg  Config
	h    host.Host
	auth gossip.ServiceAuthoriser
	log  *slog.Logger
	m    *metrics

	cat    *service.Catalog
	budget *service.Budget
	topic  *gossip.ServiceTopic
	web    *libp2phttp.Host
	direct *http.Transport // to local targets

	mu       sync.Mutex
	exposed  map[string]*exposed // by service
	byPeer   map[peer.ID][]string
	forwards map[string]*forward // by listen address
	wake     chan struct{}
	cancel   context.CancelFunc
	running  bool
	wg       sync.WaitGroup
}

// New builds a Plane on host h and pubsub ps. auth decides who may publish
// a namespace. It starts nothing.
func New(cfg Config, h host.Host, ps *pubsub.PubSub, auth gossip.ServiceAuthoriser, reg prometheus.Registerer, log *slog.Logger) (*Plane, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if h == nil || ps == nil || auth == nil {
		return nil, fmt.Errorf("service: host, pubsub and authoriser are required: %w", xnode.ErrInvalidArgument)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cat, err := service.NewCatalog(cfg.Balancer)
	if err != nil {
		return nil, err
	}
	budget, err := service.NewBudget(0, 0)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	p := &Plane{
		cfg: cfg, h: h, auth: auth, log: log.With("component", "services"), m: m,
		cat: cat, budget: budget,
		direct:   &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, ResponseHeaderTimeout: 0, DisableCompression: true},
		exposed:  map[string]*exposed{},
		byPeer:   map[peer.ID][]string{},
		forwards: map[string]*forward{},
		wake:     make(chan struct{}, 1),
	}
	cat.OnEject(func(in service.Instance, until time.Time) {
		m.ejections.WithLabelValues(in.Service, instanceLabel(in)).Inc()
		p.log.Info("instance ejected", "service", in.Service, "peer", in.Peer, "id", in.ID, "until", until)
	})
	p.topic, err = gossip.NewServiceTopic(cfg.Network, h, ps, auth, p.deliver, reg, log)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Catalog is the plane's catalog (read it; the plane feeds it).
func (p *Plane) Catalog() *service.Catalog { return p.cat }

// Rejected is the number of announcements refused as unauthorised.
func (p *Plane) Rejected() uint64 { return p.topic.Rejected(gossip.ReasonUnauthorised) }

// Start joins the services topic, serves the service protocols and starts
// the announce, health and expiry loops.
func (p *Plane) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running || p.cancel != nil {
		return fmt.Errorf("service: plane already started: %w", xnode.ErrConflict)
	}
	if err := p.topic.Start(ctx); err != nil {
		return err
	}
	p.web = &libp2phttp.Host{StreamHost: p.h}
	p.web.SetHTTPHandlerAtPath(HTTPProtocol, HTTPPath, http.HandlerFunc(p.serveHTTP))
	p.h.SetStreamHandler(TCPProtocol, p.serveTCP)
	loop, cancel := context.WithCancel(ctx)
	p.cancel, p.running = cancel, true
	p.wg.Go(func() {
		if err := p.web.Serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Warn("service http host stopped", "err", err)
		}
	})
	p.wg.Go(func() { p.loop(loop) })
	return nil
}

// Close withdraws nothing (the instances expire or the member leaves),
// stops the loops, the forwards and the servers, and waits.
func (p *Plane) Close() error {
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		return nil
	}
	p.running = false
	p.cancel()
	fws := slices.Collect(maps.Values(p.forwards))
	p.forwards = map[string]*forward{}
	p.mu.Unlock()
	for _, f := range fws {
		f.close()
	}
	p.h.RemoveStreamHandler(TCPProtocol)
	_ = p.web.Close()
	err := p.topic.Close()
	p.wg.Wait()
	p.direct.CloseIdleConnections()
	return err
}

// instanceID derives a stable instance id from the peer and the service.
func instanceID(self peer.ID, svc string) string {
	s := sha256.Sum256([]byte(string(self) + "/" + svc))
	return hex.EncodeToString(s[:6])
}

// Expose starts announcing an instance of e.Service served by e.Target. It
// returns at once; a namespace that does not allow this node is refused
// with xnode.ErrConflict and a message saying so.
func (p *Plane) Expose(ctx context.Context, e Exposure) error {
	if err := e.Normalize(); err != nil {
		return err
	}
	ns, _, _ := service.ParseName(e.Service)
	if err := p.auth.MayPublish(ctx, ns, p.h.ID()); err != nil {
		return fmt.Errorf("service: namespace %q does not allow this node (%s) to publish: ask its owner to run `xnode ns allow %s %s`: %w: %v",
			ns, p.h.ID(), ns, p.h.ID(), xnode.ErrConflict, err)
	}
	x := &exposed{Exposure: e, id: instanceID(p.h.ID(), e.Service), healthy: true, sem: make(chan struct{}, p.cfg.MaxInbound)}
	if e.Check != "none" {
		x.healthy = p.check(ctx, e)
	}
	p.mu.Lock()
	p.exposed[e.Service] = x
	p.mu.Unlock()
	p.kick()
	return nil
}

// Unexpose stops announcing the service's local instance.
func (p *Plane) Unexpose(_ context.Context, svc string) error {
	p.mu.Lock()
	_, ok := p.exposed[svc]
	delete(p.exposed, svc)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("service: %s is not exposed on this node: %w", svc, xnode.ErrNotFound)
	}
	p.kick()
	return nil
}

// Exposed lists the local exposures.
func (p *Plane) Exposed() []Exposure {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Exposure, 0, len(p.exposed))
	for _, x := range p.exposed {
		out = append(out, x.Exposure)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out
}

func (p *Plane) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Plane) loop(ctx context.Context) {
	announce := time.NewTicker(p.cfg.AnnounceInterval)
	health := time.NewTicker(p.cfg.HealthInterval)
	expire := time.NewTicker(time.Second)
	defer announce.Stop()
	defer health.Stop()
	defer expire.Stop()
	// The mesh forms after start: publish again soon, not only at the
	// first interval.
	p.announce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
			p.announce(ctx)
		case <-announce.C:
			p.announce(ctx)
		case <-health.C:
			if p.checkAll(ctx) {
				p.announce(ctx)
			}
		case now := <-expire.C:
			for _, in := range p.cat.Expire(now) {
				p.log.Info("instance expired", "service", in.Service, "peer", in.Peer, "id", in.ID)
			}
		}
	}
}

func (p *Plane) announce(ctx context.Context) {
	p.mu.Lock()
	ins := make([]gossip.ServiceInstance, 0, len(p.exposed))
	for _, x := range p.exposed {
		ins = append(ins, gossip.ServiceInstance{
			Service: x.Service, ID: x.id, Proto: x.Proto, Tags: x.Tags, Weight: x.Weight,
			Healthy: x.healthy, Load: float64(len(x.sem)),
		})
	}
	p.mu.Unlock()
	sort.Slice(ins, func(i, j int) bool { return ins[i].Service < ins[j].Service })
	if err := p.topic.Publish(ctx, p.cfg.TTL, ins); err != nil && ctx.Err() == nil {
		p.log.Warn("service announcement not published", "err", err)
	}
}

// checkAll runs the health checks and reports whether any changed.
func (p *Plane) checkAll(ctx context.Context) bool {
	p.mu.Lock()
	xs := slices.Collect(maps.Values(p.exposed))
	p.mu.Unlock()
	changed := false
	for _, x := range xs {
		if x.Check == "none" {
			continue
		}
		ok := p.check(ctx, x.Exposure)
		p.mu.Lock()
		if x.healthy != ok {
			x.healthy = ok
			changed = true
			p.log.Info("service target health changed", "service", x.Service, "target", x.Target, "healthy", ok)
		}
		p.mu.Unlock()
	}
	return changed
}

func (p *Plane) check(ctx context.Context, e Exposure) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if path, ok := strings.CutPrefix(e.Check, "http:"); ok {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.Target+path, nil)
		if err != nil {
			return false
		}
		resp, err := p.direct.RoundTrip(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode < 400
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", e.Target)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// deliver applies an accepted announcement: the peer's instance list
// replaces its previous one.
func (p *Plane) deliver(a gossip.ServiceAnnouncement, at time.Time) {
	keep := map[string]bool{}
	for _, si := range a.Instances {
		in := service.Instance{
			Service: si.Service, ID: si.ID, Peer: a.PeerID.String(), Proto: si.Proto, Tags: si.Tags,
			Weight: si.Weight, Healthy: si.Healthy, Load: si.Load, Expires: at.Add(a.TTL),
		}
		if err := p.cat.Announce(at, in); err != nil {
			p.cat.Reject("invalid")
			p.log.Debug("service instance refused", "peer", a.PeerID, "err", err)
			continue
		}
		keep[si.Service+"\x00"+si.ID] = true
	}
	p.mu.Lock()
	old := p.byPeer[a.PeerID]
	p.byPeer[a.PeerID] = slices.Collect(maps.Keys(keep))
	p.mu.Unlock()
	for _, k := range old {
		if !keep[k] {
			svc, id, _ := strings.Cut(k, "\x00")
			p.cat.Withdraw(svc, a.PeerID.String(), id)
		}
	}
}

// DropPeer drops a failed or departed member's instances at once.
func (p *Plane) DropPeer(id peer.ID) {
	p.mu.Lock()
	delete(p.byPeer, id)
	p.mu.Unlock()
	if n := p.cat.DropPeer(id.String()); n > 0 {
		p.log.Info("member's instances dropped", "peer", id, "instances", n)
	}
}

// Instances returns a service's instances as the balancer sees them.
func (p *Plane) Instances(svc string) ([]service.Stats, error) {
	st, err := p.cat.Instances(time.Now(), svc)
	if err != nil {
		return nil, mapErr(err)
	}
	return st, nil
}

// mapErr maps the core's errors onto the project's kinds.
func mapErr(err error) error {
	switch {
	case errors.Is(err, service.ErrUnknownService):
		return fmt.Errorf("%w: %w", xnode.ErrNotFound, err)
	case errors.Is(err, service.ErrNoInstance):
		return fmt.Errorf("%w: %w", xnode.ErrUnavailable, err)
	case errors.Is(err, service.ErrBadName), errors.Is(err, service.ErrBadInstance):
		return fmt.Errorf("%w: %w", xnode.ErrInvalidArgument, err)
	}
	return err
}

func instanceLabel(in service.Instance) string {
	p := in.Peer
	if len(p) > 12 {
		p = p[len(p)-12:]
	}
	return p + "/" + in.ID
}
