package dht

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ipfs/go-cid"
	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p-kad-dht/amino"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
)

const (
	// ProtocolPrefix is the kad-dht protocol prefix.
	ProtocolPrefix = "/xnode"
	// ProtocolID is the one DHT protocol a node speaks.
	ProtocolID protocol.ID = ProtocolPrefix + "/kad/1.0.0"
)

// Option adjusts a Router beyond its Config: things that are wiring, not
// settings.
type Option func(*Router)

// WithRegisterer registers the router's metrics on reg. Without it the
// router keeps no metrics.
func WithRegisterer(reg prometheus.Registerer) Option {
	return func(r *Router) { r.reg = reg }
}

type state int

const (
	stateNew state = iota
	stateStarting
	stateRunning
	stateClosed
)

// Router is a node's peer routing: a private kad-dht plus the discovery
// loop that keeps enough connections open for gossip.
type Router struct {
	cfg        Config
	host       host.Host
	log        *slog.Logger
	bootstrap  []bootstrapPeer
	remembered []peer.AddrInfo
	reg        prometheus.Registerer
	metrics    *metrics

	// isolated is signalled when the host loses its last connection, so
	// that the discovery loop redials within a second instead of at its
	// next tick.
	isolated chan struct{}
	notifee  *network.NotifyBundle
	// lost remembers the peers whose connections closed, with the
	// addresses they listened on, to redial when isolated (kad-dht may
	// drop them from its routing table).
	lostMu sync.Mutex
	lost   []peer.AddrInfo

	mu     sync.RWMutex
	state  state
	kad    *kaddht.IpfsDHT
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// abortStart cancels a Start in progress.
	abortStart context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

type bootstrapPeer struct {
	addr multiaddr.Multiaddr
	info peer.AddrInfo
}

// New checks cfg and returns a Router for h. It starts nothing; call Start.
// The host stays owned by the caller.
func New(cfg Config, h host.Host, log *slog.Logger, opts ...Option) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("dht: nil host: %w", xnode.ErrInvalidArgument)
	}
	if log == nil {
		return nil, fmt.Errorf("dht: nil logger: %w", xnode.ErrInvalidArgument)
	}
	r := &Router{cfg: cfg, host: h, log: log, isolated: make(chan struct{}, 1)}
	for _, a := range cfg.Bootstrap {
		ai, _ := bootstrapInfo(a) // checked by Validate
		r.bootstrap = append(r.bootstrap, bootstrapPeer{addr: a, info: *ai})
	}
	for _, ai := range cfg.Remembered {
		if ai.ID != "" && ai.ID != h.ID() && len(ai.Addrs) > 0 {
			r.remembered = append(r.remembered, ai)
		}
	}
	for _, o := range opts {
		o(r)
	}
	if r.reg != nil {
		m, err := newMetrics(r.reg, r.RoutingTableSize)
		if err != nil {
			return nil, fmt.Errorf("dht: metrics: %w", err)
		}
		r.metrics = m
	}
	return r, nil
}

// kadOptions are the kad-dht options for this config, applied in this
// order on top of kad-dht's defaults.
func (r *Router) kadOptions() []kaddht.Option {
	infos := make([]peer.AddrInfo, 0, len(r.bootstrap))
	for _, b := range r.bootstrap {
		if b.info.ID != r.host.ID() {
			infos = append(infos, b.info)
		}
	}
	opts := []kaddht.Option{
		kaddht.Mode(kaddht.ModeServer),
		kaddht.ProtocolPrefix(ProtocolPrefix),
		// Always set, even when empty, so that kad-dht never falls back to
		// anything but our own peers.
		kaddht.BootstrapPeers(infos...),
		kaddht.RoutingTableRefreshPeriod(r.cfg.RefreshInterval),
	}
	if r.cfg.AllowLoopback {
		// kad-dht's defaults are already permissive (no diversity filter,
		// empty query and routing-table filters, no address filter); say so
		// explicitly so a change of defaults cannot break local networks.
		opts = append(opts,
			kaddht.QueryFilter(func(any, peer.AddrInfo) bool { return true }),
			kaddht.RoutingTableFilter(func(any, peer.ID) bool { return true }),
			kaddht.AddressFilter(nil),
		)
		return opts
	}
	notLoopback := func(a multiaddr.Multiaddr) bool { return !manet.IsIPLoopback(a) }
	return append(opts,
		// Limit how many routing-table slots one IP group can take, as the
		// public DHT does, so one host cannot fill our table with sybils.
		kaddht.RoutingTablePeerDiversityFilter(kaddht.NewRTPeerDiversityFilter(
			r.host, amino.DefaultMaxPeersPerIPGroupPerCpl, amino.DefaultMaxPeersPerIPGroup)),
		// Loopback addresses are useless to anyone else: do not store or
		// hand them out, and do not query a peer that has nothing else.
		kaddht.AddressFilter(func(as []multiaddr.Multiaddr) []multiaddr.Multiaddr {
			return multiaddr.FilterAddrs(as, notLoopback)
		}),
		kaddht.QueryFilter(func(_ any, ai peer.AddrInfo) bool {
			return len(multiaddr.FilterAddrs(ai.Addrs, notLoopback)) > 0
		}),
	)
}

// Start creates the DHT, dials the bootstrap peers, bootstraps the routing
// table and starts the discovery loop. ctx bounds the start only; the loop
// runs until Close. If no bootstrap peer answers within
// Config.BootstrapTimeout, Start fails with a *BootstrapError and leaves
// nothing running (Start may then be called again).
func (r *Router) Start(ctx context.Context) error {
	r.mu.Lock()
	switch r.state {
	case stateStarting, stateRunning:
		r.mu.Unlock()
		return ErrAlreadyStarted
	case stateClosed:
		r.mu.Unlock()
		return ErrNotRunning
	}
	// Dialling may take BootstrapTimeout; do not hold the lock meanwhile,
	// and let Close cut it short.
	startCtx, abort := context.WithCancel(ctx)
	defer abort()
	r.state, r.abortStart = stateStarting, abort
	r.mu.Unlock()

	kad, err := r.startKad(startCtx)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.abortStart = nil
	if r.state == stateClosed { // Close ran while we were starting
		if err == nil {
			err = r.closeKad(kad)
		}
		return errors.Join(ErrNotRunning, err)
	}
	if err != nil {
		r.state = stateNew
		return err
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.kad, r.cancel, r.state = kad, cancel, stateRunning
	r.notifee = &network.NotifyBundle{DisconnectedF: func(n network.Network, c network.Conn) {
		r.noteLost(c.RemotePeer())
		if len(n.Peers()) == 0 {
			select {
			case r.isolated <- struct{}{}:
			default:
			}
		}
	}}
	r.host.Network().Notify(r.notifee)
	r.wg.Go(func() { r.discoveryLoop(loopCtx, kad) })
	r.log.Info("dht started", "bootstrap", len(r.bootstrap),
		"namespace", Namespace(r.cfg.Network))
	return nil
}

// startKad creates the DHT, dials the bootstrap peers and starts the
// routing-table bootstrap. On error nothing is left running.
func (r *Router) startKad(ctx context.Context) (*kaddht.IpfsDHT, error) {
	kad, err := kaddht.New(r.host, r.kadOptions()...)
	if err != nil {
		return nil, fmt.Errorf("dht: create: %w", err)
	}
	if err := r.dialKnown(ctx, nil); err != nil {
		var be *BootstrapError
		if !r.cfg.RetryBootstrap || !errors.As(err, &be) {
			return nil, errors.Join(err, r.closeKad(kad))
		}
		r.log.Warn("no bootstrap peer reachable; starting anyway and retrying", "err", err)
	}
	if err := kad.Bootstrap(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("dht: bootstrap: %w", err), r.closeKad(kad))
	}
	return kad, nil
}

// dialKnown dials, all at once and each bounded by BootstrapTimeout, the
// bootstrap peers, the remembered ones and others (peers this node knew
// while it ran), and stops at the first success: one peer is enough, kad-dht
// and gossip find the rest through it. It fails with a *BootstrapError only
// when there are bootstrap peers and nothing answered.
func (r *Router) dialKnown(ctx context.Context, others []peer.AddrInfo) error {
	var (
		tried []multiaddr.Multiaddr // bootstrap peers dialled
		errs  []error               // their errors, in the same order
		mu    sync.Mutex
		wg    sync.WaitGroup
		ok    bool
	)
	ctx, cancel := context.WithTimeout(ctx, r.cfg.BootstrapTimeout)
	defer cancel()
	dial := func(ai peer.AddrInfo, bootstrap multiaddr.Multiaddr) {
		wg.Go(func() {
			err := r.host.Connect(ctx, ai)
			mu.Lock()
			defer mu.Unlock()
			if bootstrap != nil {
				tried = append(tried, bootstrap)
				errs = append(errs, err)
			} else if err != nil && !ok {
				r.log.Debug("known peer unreachable", "peer", ai.ID, "err", err)
			}
			if err == nil {
				if !ok {
					r.log.Debug("connected to a known peer", "peer", ai.ID)
				}
				ok = true
				cancel()
			}
		})
	}
	seen := map[peer.ID]bool{r.host.ID(): true}
	for _, b := range r.bootstrap {
		if !seen[b.info.ID] {
			seen[b.info.ID] = true
			dial(b.info, b.addr)
		}
	}
	for _, ai := range append(r.remembered[:len(r.remembered):len(r.remembered)], others...) {
		if !seen[ai.ID] {
			seen[ai.ID] = true
			dial(ai, nil)
		}
	}
	wg.Wait()
	if !ok {
		for i, err := range errs {
			r.log.Warn("bootstrap peer unreachable", "addr", tried[i], "err", err)
		}
	}
	if ok || len(tried) == 0 {
		return nil
	}
	return &BootstrapError{Addrs: tried, Errs: errs, Timeout: r.cfg.BootstrapTimeout}
}

// Close stops discovery, waits for it and closes the DHT. The host is left
// open. Close is idempotent and returns the same result every time.
func (r *Router) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		kad, cancel := r.kad, r.cancel
		r.kad, r.state = nil, stateClosed
		if r.abortStart != nil {
			r.abortStart()
		}
		notifee := r.notifee
		r.mu.Unlock()
		if notifee != nil {
			r.host.Network().StopNotify(notifee)
		}
		if cancel != nil {
			cancel()
		}
		r.wg.Wait()
		if kad != nil {
			r.closeErr = r.closeKad(kad)
		}
		if r.metrics != nil {
			r.metrics.unregister(r.reg)
		}
	})
	return r.closeErr
}

// closeKad closes the DHT and takes its handler off the host, which
// kad-dht leaves registered: a closed node must not answer DHT queries.
func (r *Router) closeKad(kad *kaddht.IpfsDHT) error {
	r.host.RemoveStreamHandler(ProtocolID)
	if err := kad.Close(); err != nil {
		return fmt.Errorf("dht: close: %w", err)
	}
	return nil
}

// maxLost bounds how many lost peers the router remembers.
const maxLost = 64

// noteLost remembers p, most recent last, with the addresses the peerstore
// has for it.
func (r *Router) noteLost(p peer.ID) {
	addrs := r.host.Peerstore().Addrs(p)
	if len(addrs) == 0 {
		return
	}
	r.lostMu.Lock()
	defer r.lostMu.Unlock()
	for i, ai := range r.lost {
		if ai.ID == p {
			r.lost = append(r.lost[:i], r.lost[i+1:]...)
			break
		}
	}
	if len(r.lost) == maxLost {
		r.lost = r.lost[1:]
	}
	r.lost = append(r.lost, peer.AddrInfo{ID: p, Addrs: addrs})
}

// lostPeers returns the remembered lost peers, most recent first.
func (r *Router) lostPeers() []peer.AddrInfo {
	r.lostMu.Lock()
	defer r.lostMu.Unlock()
	out := make([]peer.AddrInfo, len(r.lost))
	for i, ai := range r.lost {
		out[len(out)-1-i] = ai
	}
	return out
}

// running returns the DHT if the router is running.
func (r *Router) running() (*kaddht.IpfsDHT, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.state != stateRunning {
		return nil, ErrNotRunning
	}
	return r.kad, nil
}

// RoutingTableSize returns how many peers are in the routing table; 0 when
// not running.
func (r *Router) RoutingTableSize() int {
	kad, err := r.running()
	if err != nil {
		return 0
	}
	return kad.RoutingTable().Size()
}

// FindPeer returns id's addresses: from the host if connected, else by a
// DHT lookup. It fails with ErrPeerNotFound if the lookup ends without them.
func (r *Router) FindPeer(ctx context.Context, id peer.ID) (peer.AddrInfo, error) {
	kad, err := r.running()
	if err != nil {
		return peer.AddrInfo{}, err
	}
	if err := id.Validate(); err != nil {
		return peer.AddrInfo{}, fmt.Errorf("dht: find peer: %w: %w", xnode.ErrInvalidArgument, err)
	}
	ai, err := kad.FindPeer(ctx, id)
	if err != nil {
		return peer.AddrInfo{}, lookupErr("find peer "+id.String(), err)
	}
	return ai, nil
}

// Provide records this node as a provider of c, locally and on the peers
// closest to c. ctx should carry a deadline: without one the final puts are
// not bounded by the caller.
func (r *Router) Provide(ctx context.Context, c cid.Cid) error {
	kad, err := r.running()
	if err != nil {
		return err
	}
	if !c.Defined() {
		return fmt.Errorf("dht: provide: undefined cid: %w", xnode.ErrInvalidArgument)
	}
	if err := kad.Provide(ctx, c, true); err != nil {
		return lookupErr("provide "+c.String(), err)
	}
	return nil
}

// FindProviders returns up to max providers of c (all it finds if max <= 0).
// It may include this node if it provides c. Finding none is not an error:
// the result is then empty.
func (r *Router) FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.AddrInfo, error) {
	kad, err := r.running()
	if err != nil {
		return nil, err
	}
	if !c.Defined() {
		return nil, fmt.Errorf("dht: find providers: undefined cid: %w", xnode.ErrInvalidArgument)
	}
	if max < 0 {
		max = 0
	}
	var out []peer.AddrInfo
	for ai := range kad.FindProvidersAsync(ctx, c, max) {
		out = append(out, ai)
	}
	if len(out) == 0 && ctx.Err() != nil {
		return nil, lookupErr("find providers "+c.String(), ctx.Err())
	}
	return out, nil
}

// Connect makes sure the host is connected to id. It dials known first
// (addresses learned elsewhere, such as a membership announcement); if
// there are none or none answers, it looks id up in the DHT and dials what
// it finds. ctx bounds the whole attempt. The error joins every failure.
func (r *Router) Connect(ctx context.Context, id peer.ID, known []multiaddr.Multiaddr) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("dht: connect: %w: %w", xnode.ErrInvalidArgument, err)
	}
	if id == r.host.ID() {
		return fmt.Errorf("dht: connect: %s is this node: %w", id, xnode.ErrInvalidArgument)
	}
	if r.host.Network().Connectedness(id) == network.Connected {
		return nil
	}
	var errs []error
	if len(known) > 0 {
		err := r.host.Connect(ctx, peer.AddrInfo{ID: id, Addrs: known})
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("dht: connect %s via known addresses: %w", id, err))
	}
	ai, err := r.FindPeer(ctx, id)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if err := r.host.Connect(ctx, ai); err != nil {
		return errors.Join(append(errs, fmt.Errorf("dht: connect %s via dht addresses: %w", id, err))...)
	}
	return nil
}

// lookupErr maps a kad-dht failure onto the error kinds.
func lookupErr(op string, err error) error {
	switch {
	case errors.Is(err, routing.ErrNotFound):
		return fmt.Errorf("%w: %s", ErrPeerNotFound, op)
	case err.Error() == "failed to find any peer in table":
		// kb.ErrLookupFailure; matched by text so as not to import kbucket.
		return fmt.Errorf("dht: %s: %w", op, ErrNoPeers)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("dht: %s: %w: %w", op, xnode.ErrTimeout, err)
	default:
		return fmt.Errorf("dht: %s: %w", op, err)
	}
}
