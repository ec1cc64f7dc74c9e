package overlay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/admission"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/dht"
	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/overlay/transfer"
	"github.com/xnode/xnode/peerguard"
	"github.com/xnode/xnode/restore"
	svcp2p "github.com/xnode/xnode/service/p2p"
	"github.com/xnode/xnode/storage"
	"github.com/xnode/xnode/verify"
)

// Options configure a Node beyond its config.toml.
type Options struct {
	// Home is the node's directory, made by Init or InitFromGenesis.
	Home Home
	// Config is the loaded config.toml with any flag overrides applied.
	Config Config
	// Version is announced to peers and shown in status.
	Version string
	// Logger receives every log line; it should carry the node's name.
	Logger *slog.Logger
	// Tuning overrides intervals for tests and local networks; nil keeps
	// the production values.
	Tuning *Tuning
}

// Tuning holds knobs a test or a local network shortens. Zero fields keep
// the defaults.
type Tuning struct {
	// Gossip replaces the gossip configuration (network name is filled in).
	Gossip *gossip.Config
	// DHT replaces the DHT configuration (network and bootstrap are filled in).
	DHT *dht.Config
	// AttemptTimeout bounds one block transfer attempt. Default 20s.
	AttemptTimeout time.Duration
	// HedgeDelay is how long a block transfer may go unanswered before the
	// next member in rank order is asked as well. Default 2s: far above a
	// healthy 1 MiB transfer, far below the time to detect a failure.
	HedgeDelay time.Duration
	// VerifyInterval is how often the verifier looks for pending records
	// besides new blocks. Default 5s.
	VerifyInterval time.Duration
	// StorageNow replaces the clock the block store ages tentative blocks
	// with, so a test can collect orphans without waiting an hour.
	StorageNow func() time.Time
}

// Node is one running xnode.
type Node struct {
	opts Options
	cfg  Config
	log  *slog.Logger
	reg  *prometheus.Registry
	tune Tuning

	chainID  string
	genesis  *cmttypes.GenesisDoc
	params   abci.Params
	operator ed25519.PrivateKey
	nonce    atomic.Uint64

	host    host.Host
	store   *storage.Store
	xfer    *transfer.Service
	ps      *pubsub.PubSub
	members *gossip.Service
	router  *dht.Router
	app     *abci.App
	chain   *consensus.Node
	blocks  *blocks
	repair  *repairer
	restore *restore.Restorer
	verif   *verify.Verifier
	admit   *admission.Watcher
	scrub   *verify.Scrubber
	api     *api.Server
	metrics *metrics
	// services is the service plane (services.go).
	services *svcp2p.Plane
	apiURL   atomic.Value // string

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closers   []func() error
	closeOnce sync.Once
	peersMu   sync.Mutex // serialises writes of the peers file
	// remembered are the members of the last run (the peers file), and
	// startedAt when this run began: see withRemembered.
	remembered []remembered
	startedAt  time.Time
	closeErr   error
	started    atomic.Bool
}

// New checks opts and returns a node that has started nothing.
func New(opts Options) (*Node, error) {
	if !opts.Home.Exists() {
		return nil, fmt.Errorf("overlay: %w: no node home at %s (run xnode init)", xnode.ErrNotFound, opts.Home)
	}
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	n := &Node{opts: opts, cfg: opts.Config, log: opts.Logger, reg: prometheus.NewRegistry()}
	if opts.Tuning != nil {
		n.tune = *opts.Tuning
	}
	if n.tune.AttemptTimeout <= 0 {
		n.tune.AttemptTimeout = 20 * time.Second
	}
	if n.tune.HedgeDelay <= 0 {
		n.tune.HedgeDelay = 2 * time.Second
	}
	if n.tune.VerifyInterval <= 0 {
		n.tune.VerifyInterval = 5 * time.Second
	}
	return n, nil
}

// Registry is the node's Prometheus registry (served at /metrics).
func (n *Node) Registry() *prometheus.Registry { return n.reg }

func (n *Node) onClose(f func() error) { n.closers = append(n.closers, f) }

// Start brings the node up. On error everything started so far is closed.
func (n *Node) Start(ctx context.Context) (err error) {
	if !n.started.CompareAndSwap(false, true) {
		return errors.New("overlay: node already started")
	}
	n.startedAt = time.Now()
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.onClose(func() error { cancel(); n.wg.Wait(); return nil })
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n.metrics = newMetrics(n.reg)
	home := n.opts.Home

	// Keys, genesis and network parameters.
	key, err := LoadOrCreateIdentity(home.IdentityPath())
	if err != nil {
		return err
	}
	if n.operator, err = LoadOperatorKey(home.OperatorPath()); err != nil {
		return err
	}
	if n.genesis, err = consensus.LoadGenesis(home.CometHome()); err != nil {
		return err
	}
	n.chainID = n.genesis.ChainID
	gs, err := abci.ParseGenesisState(n.genesis.AppState)
	if err != nil {
		return fmt.Errorf("overlay: genesis app state: %w", err)
	}
	n.params = gs.Params
	n.nonce.Store(uint64(time.Now().UnixNano()))

	// Storage.
	scfg := storage.DefaultConfig(home.BlocksDir())
	scfg.SyncWrites = n.cfg.Storage.SyncWrites
	scfg.TentativeGrace = n.cfg.Storage.TentativeGrace.D()
	scfg.GCInterval = n.cfg.Storage.GCInterval.D()
	scfg.Now = n.tune.StorageNow
	scfg.OnDamage = n.damaged
	if n.store, err = storage.Open(scfg, n.reg, n.log.With("component", "storage")); err != nil {
		return err
	}
	n.onClose(n.store.Close)
	if err := n.newRestorer(); err != nil { // before the store's verification pass reports
		return err
	}
	if err := n.store.Start(runCtx); err != nil {
		return err
	}

	// libp2p host and block transfer. The gater refuses peers banned for
	// breaking the block protocol (not for gossip: GossipSub's scoring
	// graylists junk senders itself).
	guard, err := peerguard.NewGater(peerguard.DefaultConfig(), n.reg, n.log.With("component", "peerguard"))
	if err != nil {
		return err
	}
	if n.host, err = newHost(key, n.cfg.P2P.Listen, HostLimits{
		MaxMemory: n.cfg.P2P.MaxMemoryMB << 20, MaxFDs: n.cfg.P2P.MaxFileDescriptors,
		ConnLow: n.cfg.P2P.ConnLow, ConnHigh: n.cfg.P2P.ConnHigh, ConnGrace: time.Minute,
	}, n.opts.Version, guard); err != nil {
		return err
	}
	n.onClose(n.host.Close)
	n.host.Network().Notify(guard)
	n.log = n.log.With("node", n.host.ID().String())
	xcfg := transfer.DefaultConfig()
	xcfg.OnViolation = func(p peer.ID, reason string) {
		if v := guard.Strike(p, reason); v.NewBan {
			_ = n.host.Network().ClosePeer(p)
		}
	}
	if n.xfer, err = transfer.New(xcfg, n.host, n.store, n.reg, n.log); err != nil {
		return err
	}
	if err := n.xfer.Start(runCtx); err != nil {
		return err
	}
	n.onClose(n.xfer.Close)
	n.serveGenesis()

	// Consensus: the app, then CometBFT.
	if n.app, err = abci.New(abci.Config{Dir: home.AppDir(), KeepRecent: n.cfg.State.KeepRecent, Logger: n.log}, n.reg); err != nil {
		return err
	}
	n.onClose(n.app.Close)
	ccfg := consensus.DefaultConfig()
	ccfg.Home = home.CometHome()
	ccfg.Moniker = n.cfg.Moniker
	ccfg.P2PListen = n.cfg.Consensus.P2PListen
	ccfg.RPCListen = n.cfg.Consensus.RPCListen
	ccfg.PersistentPeers = n.cfg.Consensus.PersistentPeers
	ccfg.TimeoutCommit = n.cfg.Consensus.TimeoutCommit.D()
	ccfg.CreateEmptyBlocks = true
	ccfg.CreateEmptyBlocksInterval = n.cfg.Consensus.EmptyBlocksInterval.D()
	ccfg.IndexTxs = n.cfg.Consensus.IndexTxs
	if n.chain, err = consensus.New(ccfg, n.app, n.log); err != nil {
		return err
	}
	if err := n.chain.Start(runCtx); err != nil {
		return err
	}
	n.onClose(n.chain.Close)

	// Membership.
	gcfg := gossip.DefaultConfig()
	if n.tune.Gossip != nil {
		gcfg = *n.tune.Gossip
	} else {
		gcfg.HeartbeatInterval = n.cfg.Gossip.HeartbeatInterval.D()
		gcfg.SuspectPhi = n.cfg.Gossip.SuspectPhi
		gcfg.FailPhi = n.cfg.Gossip.FailPhi
	}
	gcfg.Network = n.chainID
	if n.ps, err = gossip.NewPubSub(runCtx, n.host, gcfg); err != nil {
		return err
	}
	if n.members, err = gossip.New(gcfg, n.host, n.ps, n.announcement, n.reg, n.log); err != nil {
		return err
	}
	if err := n.members.Start(runCtx); err != nil {
		return err
	}
	n.onClose(n.members.Close)

	// Peer routing: bootstrap, discovery, providers.
	dcfg := dht.DefaultConfig()
	if n.tune.DHT != nil {
		dcfg = *n.tune.DHT
	}
	dcfg.Network = n.chainID
	dcfg.AllowLoopback = true
	dcfg.Bootstrap = nil
	for _, s := range n.cfg.P2P.Bootstrap {
		ma, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("overlay: bootstrap %q: %w", s, err)
		}
		dcfg.Bootstrap = append(dcfg.Bootstrap, ma)
	}
	// Start even when no bootstrap peer answers, as a restarted network's
	// first node must; joining a new network fails fast instead (see Join).
	dcfg.RetryBootstrap = true
	if n.remembered, err = readPeers(home.PeersPath()); err != nil {
		n.log.Warn("ignoring the remembered peers", "err", err)
	}
	dcfg.Remembered = addrInfos(n.remembered)
	if n.router, err = dht.New(dcfg, n.host, n.log.With("component", "dht"), dht.WithRegisterer(n.reg)); err != nil {
		return err
	}
	if err := n.router.Start(runCtx); err != nil {
		return err
	}
	n.onClose(n.router.Close)

	// The block paths, repair and verification.
	n.blocks = &blocks{
		self: n.host.ID(), local: n.store, remote: n.xfer, dht: n.router,
		addrsOf:   n.membershipAddrs,
		connected: func(p peer.ID) bool { return n.host.Network().Connectedness(p) == network.Connected },
		view:      n.liveView, minMembers: int(n.params.MinMembers), chunkSize: int(n.params.MaxChunkSize),
		inflight: inflightChunks(int(n.params.MaxChunkSize)), attemptTO: n.tune.AttemptTimeout, hedge: n.tune.HedgeDelay, log: n.log.With("component", "blocks"), metrics: n.metrics, bg: runCtx,
	}
	n.onClose(func() error { n.blocks.wg.Wait(); return nil })
	n.repair = newRepairer(n.blocks, n.repairView, n.cfg.Repair.Concurrency, n.cfg.Repair.AntiEntropyInterval.D(), n.cfg.Repair.Settle.D(), n.log.With("component", "repair"), n.metrics)
	if err := n.startAdmission(runCtx); err != nil {
		return err
	}
	n.goRun(func() { n.repair.run(runCtx) })
	if err := n.restore.Start(runCtx); err != nil {
		return err
	}
	n.onClose(n.restore.Close)
	n.goRun(func() { n.watchMembers(runCtx) })
	// Runs before the membership closes (closers run in reverse).
	n.onClose(func() error { n.savePeers(); return nil })
	if err := n.startVerification(runCtx); err != nil {
		return err
	}
	if err := n.startServices(runCtx); err != nil {
		return err
	}

	// The API last, once everything it serves is up.
	acfg := api.DefaultConfig()
	acfg.Listen = n.cfg.API.Listen
	acfg.MaxBodyBytes = n.cfg.API.MaxBodyBytes
	acfg.MaxInFlight = n.cfg.API.MaxInFlight
	acfg.CommitWait = n.cfg.API.CommitWait.D()
	if n.api, err = api.New(acfg, n, n.reg, n.reg, n.log.With("component", "api")); err != nil {
		return err
	}
	if err := n.api.Start(runCtx); err != nil {
		return err
	}
	n.apiURL.Store("http://" + n.api.Addr())
	n.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return n.api.Shutdown(ctx)
	})
	n.log.Info("node started", "peer_id", n.host.ID(), "api", n.APIURL(), "chain_id", n.chainID,
		"replication", n.params.ReplicationFactor, "addrs", n.host.Addrs())
	return nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Leave announces a graceful departure so peers mark this node left rather
// than waiting to detect a failure. Close still has to be called.
func (n *Node) Leave(ctx context.Context) error {
	if n.members == nil {
		return nil
	}
	return n.members.Leave(ctx)
}

// Close stops every part in reverse start order and waits for them.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		var errs []error
		for i := len(n.closers) - 1; i >= 0; i-- {
			if err := n.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

// ID is the node's peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host is the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Store is the node's local block store.
func (n *Node) Store() *storage.Store { return n.store }

// APIURL is the base URL of the node's HTTP API.
func (n *Node) APIURL() string {
	s, _ := n.apiURL.Load().(string)
	return s
}

// Addrs returns the node's full multiaddrs, each ending in /p2p/<id>.
func (n *Node) Addrs() []string {
	ai := peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
	mas, err := peer.AddrInfoToP2pAddrs(&ai)
	if err != nil {
		return nil
	}
	out := make([]string, len(mas))
	for i, ma := range mas {
		out[i] = ma.String()
	}
	sort.Strings(out)
	return out
}

// announcement is what gossip publishes about this node.
func (n *Node) announcement() gossip.Announcement {
	a := gossip.Announcement{
		PeerID:   n.host.ID(),
		Addrs:    n.host.Addrs(),
		Capacity: n.cfg.P2P.Capacity,
		Tags:     n.cfg.Gossip.Tags,
		Version:  n.opts.Version,
	}
	if u := n.APIURL(); u != "" {
		a.APIAddr = u[len("http://"):]
	}
	if n.store != nil {
		a.Used = uint64(n.store.Usage().Bytes)
	}
	if n.chain != nil {
		a.CometNodeID = n.chain.NodeID()
		a.CometP2P = strings.TrimPrefix(n.chain.P2PAddress(), a.CometNodeID+"@")
	}
	return a
}

// memberInfos lists self and every member in the membership table.
func (n *Node) memberInfos() []memberInfo {
	out := []memberInfo{{ID: n.host.ID(), Capacity: n.cfg.P2P.Capacity, LastSeen: time.Now()}}
	for _, m := range n.members.Members() {
		if m.PeerID == n.host.ID() {
			continue
		}
		out = append(out, memberInfo{ID: m.PeerID, Capacity: m.Capacity, Gone: !m.State.Live(), LastSeen: m.LastSeen})
	}
	return out
}

// withRemembered adds to ms the members remembered from the last run that
// this run has not heard from, as gone since this run started: the others
// may be holding their places for the grace period, and a restarted node
// that left them out would repair around them at once, moving their blocks
// out only to move them back when they return.
func (n *Node) withRemembered(ms []memberInfo) []memberInfo {
	known := make(map[peer.ID]bool, len(ms))
	for _, m := range ms {
		known[m.ID] = true
	}
	for _, r := range n.remembered {
		if !known[r.ID] && r.Capacity > 0 {
			known[r.ID] = true
			ms = append(ms, memberInfo{ID: r.ID, Capacity: r.Capacity, Gone: true, LastSeen: n.startedAt})
		}
	}
	return ms
}

// membershipAddrs returns the addresses a member announced.
func (n *Node) membershipAddrs(p peer.ID) []multiaddr.Multiaddr {
	if m, ok := n.members.Member(p); ok {
		return m.Addrs
	}
	return nil
}

// liveView is the view of the put and get paths: members that answer.
func (n *Node) liveView() view {
	return newView(n.host.ID(), int(n.params.ReplicationFactor), n.admitted(n.memberInfos()), time.Now(), -1)
}

// repairView keeps a member that failed or left in place until the repair
// grace passes, and for the first grace period of this run also the members
// remembered from the last one (withRemembered). The put and get paths,
// which count only live members, need neither.
func (n *Node) repairView() view {
	now, grace := time.Now(), n.cfg.Repair.Grace.D()
	ms := n.memberInfos()
	if now.Sub(n.startedAt) <= grace {
		ms = n.withRemembered(ms)
	}
	return newView(n.host.ID(), int(n.params.ReplicationFactor), n.admitted(ms), now, grace)
}

// watchMembers reacts to membership events: it teaches the peerstore and
// CometBFT the addresses members announce, and triggers repair when the
// owner sets may have changed (on a join, and once the grace period of a
// member that failed or left has passed; the repairer waits for membership
// to settle).
func (n *Node) watchMembers(ctx context.Context) {
	events, cancel := n.members.Subscribe()
	defer cancel()
	cometDialed := map[peer.ID]time.Time{}
	save := time.NewTicker(peersSaveInterval)
	defer save.Stop()
	changed := false // membership changed since the peers file was written
	for {
		select {
		case <-ctx.Done():
			return
		case <-save.C:
			if changed {
				n.savePeers()
				changed = false
			}
		case ev, ok := <-events:
			if !ok {
				return
			}
			m := ev.Member
			if m.PeerID == n.host.ID() {
				continue
			}
			changed = changed || ev.Kind != gossip.EventSuspect
			switch ev.Kind {
			case gossip.EventJoined, gossip.EventUpdated:
				n.host.Peerstore().AddAddrs(m.PeerID, m.Addrs, peerstore.RecentlyConnectedAddrTTL)
				// Keep a consensus connection to every member: dial one that
				// is not connected, at most every 10 s (updates arrive every
				// heartbeat, so this also brings back a dropped peer).
				if m.CometP2P != "" && m.CometNodeID != "" && !n.chain.Connected(m.CometNodeID) &&
					time.Since(cometDialed[m.PeerID]) > 10*time.Second {
					cometDialed[m.PeerID] = time.Now()
					if err := n.chain.DialPeers([]string{m.CometNodeID + "@" + m.CometP2P}); err != nil {
						n.log.Debug("could not dial consensus peer", "peer", m.PeerID, "err", err)
					}
				}
				if ev.Kind == gossip.EventJoined && !n.ignoreMember(m.PeerID) {
					n.repair.Trigger()
				}
			case gossip.EventLeft, gossip.EventFailed:
				if n.ignoreMember(m.PeerID) {
					break // an observer holds nothing to repair around
				}
				// A member that left may be restarting: like a failed one,
				// it keeps its place for the grace period. Trigger is a
				// non-blocking send, so a timer that fires after Close does
				// nothing.
				time.AfterFunc(n.cfg.Repair.Grace.D()+time.Second, n.repair.Trigger)
			}
		}
	}
}

// savePeers writes the members this node knows to the peers file.
func (n *Node) savePeers() {
	n.peersMu.Lock()
	defer n.peersMu.Unlock()
	if err := writePeers(n.opts.Home.PeersPath(), n.host.ID(), n.members.Members()); err != nil {
		n.log.Warn("could not remember the members", "err", err)
	}
}

// PutBlob stores a blob on its owners (api.Node).
func (n *Node) PutBlob(ctx context.Context, r io.Reader) (api.PutResult, error) {
	return n.blocks.PutBlob(ctx, r)
}

// OpenBlob opens a blob for reading (api.Node).
func (n *Node) OpenBlob(ctx context.Context, c cid.Cid) (api.Blob, error) {
	return n.blocks.OpenBlob(ctx, c)
}

// Status reports the node (api.Node).
func (n *Node) Status(ctx context.Context) (api.Status, error) {
	u := n.store.Usage()
	st := api.Status{
		PeerID: n.host.ID().String(), Addrs: n.Addrs(), API: n.APIURL(), ChainID: n.chainID,
		Members: n.liveView().size(), Storage: api.StorageUsage{Blocks: uint64(u.Blocks), Bytes: uint64(u.Bytes)},
		Version: n.opts.Version, Replication: int(n.params.ReplicationFactor),
	}
	cs, err := n.chain.Status(ctx)
	if err != nil {
		return st, err
	}
	st.Height, st.CatchingUp, st.AppHash, st.CometNodeID = cs.Height, cs.CatchingUp, cs.AppHash, cs.NodeID
	st.Role = n.role(cs.Validator)
	return st, nil
}

// Ready reports readiness: the host listens, this node has joined the
// membership, and the chain has caught up (api.Node).
func (n *Node) Ready(ctx context.Context) []api.Check {
	checks := []api.Check{{Name: "host", OK: len(n.host.Addrs()) > 0}}
	live := n.liveView().size()
	joined := api.Check{Name: "membership", OK: true, Detail: fmt.Sprintf("%d live members", live)}
	// An observer has joined once it hears another node, though placement
	// counts neither it nor any other observer.
	if len(n.cfg.P2P.Bootstrap) > 0 && len(n.members.Live()) < 2 {
		joined.OK = false
		joined.Detail = "no other member seen yet"
	}
	checks = append(checks, joined)
	chain := api.Check{Name: "chain", OK: false}
	if cs, err := n.chain.Status(ctx); err != nil {
		chain.Detail = err.Error()
	} else {
		chain.OK = !cs.CatchingUp && cs.Height >= 1
		chain.Detail = fmt.Sprintf("height %d, catching up %t", cs.Height, cs.CatchingUp)
	}
	return append(checks, chain)
}

// Members lists the membership table, self first (api.Node).
func (n *Node) Members(ctx context.Context) ([]api.Member, error) {
	self := n.announcement()
	out := []api.Member{{
		PeerID: self.PeerID.String(), State: n.memberState(self.PeerID, "alive"), Addrs: addrStrings(self.Addrs), API: n.APIURL(),
		Capacity: self.Capacity, Used: self.Used, Tags: self.Tags, LastSeen: time.Now().UTC(), Self: true,
	}}
	for _, m := range n.members.Members() {
		if m.PeerID == n.host.ID() {
			continue
		}
		u := ""
		if m.APIAddr != "" {
			u = "http://" + m.APIAddr
		}
		out = append(out, api.Member{
			PeerID: m.PeerID.String(), State: n.memberState(m.PeerID, m.State.String()), Addrs: addrStrings(m.Addrs), API: u,
			Capacity: m.Capacity, Used: m.Used, Tags: m.Tags, LastSeen: m.LastSeen.UTC(), Phi: m.Phi,
		})
	}
	return out, nil
}

func addrStrings(mas []multiaddr.Multiaddr) []string {
	out := make([]string, len(mas))
	for i, ma := range mas {
		out[i] = ma.String()
	}
	return out
}

// Locate ranks the owners of a blob's root and of each of its chunks and
// probes which of them hold each block; it also lists DHT providers of the
// root (api.Node). Placement is computed, not looked up, so a CID no member
// holds is answered too: its owners are where it would be placed, and none
// has it.
func (n *Node) Locate(ctx context.Context, c cid.Cid) (api.Location, error) {
	v := n.liveView()
	cids := []cid.Cid{c}
	sizes := []int{0}
	var blobSize uint64
	if rootSize, size, below, belowSizes, err := n.blocks.dagBlocks(ctx, c); err == nil {
		sizes[0], blobSize = rootSize, size
		cids = append(cids, below...)
		sizes = append(sizes, belowSizes...)
	}
	owners := make([][]peer.ID, len(cids))
	for i, bc := range cids {
		owners[i] = v.owners(bc)
	}
	has := n.blocks.probe(ctx, cids, owners, 16, 5*time.Second)
	toOwners := func(i int) []api.Owner {
		out := make([]api.Owner, len(owners[i]))
		for r, p := range owners[i] {
			out[r] = api.Owner{Peer: p.String(), Rank: r + 1, Has: has[i][p]}
		}
		return out
	}
	loc := api.Location{CID: c.String(), Size: blobSize, BlockSize: sizes[0], Owners: toOwners(0)}
	for i := 1; i < len(cids); i++ {
		loc.Blocks = append(loc.Blocks, api.BlockLocation{CID: cids[i].String(), Size: sizes[i], Owners: toOwners(i)})
	}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if provs, err := n.router.FindProviders(pctx, c, 16); err == nil {
		for _, ai := range provs {
			loc.Providers = append(loc.Providers, ai.ID.String())
		}
	}
	return loc, nil
}

var _ api.Node = (*Node)(nil)
