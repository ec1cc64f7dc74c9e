package consensus

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/libs/service"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/proxy"
	"github.com/cometbft/cometbft/rpc/client/local"
	"github.com/cometbft/cometbft/types"
	"github.com/xnode/xnode"
)

type lifecycle int

const (
	stateNew lifecycle = iota
	stateStarted
	stateClosed
)

// Node is an embedded CometBFT node running one ABCI application in this
// process. Its methods are safe for concurrent use. New loads keys and
// genesis, Start builds and starts CometBFT, Close stops it; a Node is not
// restarted after Close (make a new one on the same home).
type Node struct {
	cfg     Config
	app     *peerGate // the application, behind CometBFT's peer filter
	log     *slog.Logger
	nodeKey *p2p.NodeKey
	signer  *guardedSigner // the priv validator, guarded while it recovers
	genesis *types.GenesisDoc

	mu    sync.RWMutex
	state lifecycle
	live  *live // set while started
	dbs   *dbTracker

	closeOnce sync.Once
	closeErr  error
}

// New prepares a node for cfg.Home (made by Init or InitFromGenesis) that will
// run app. It reads the node key, priv validator and genesis, and starts
// nothing.
func New(cfg Config, app abcitypes.Application, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if app == nil {
		return nil, fmt.Errorf("consensus: app is nil: %w", xnode.ErrInvalidArgument)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "consensus")
	ccfg := cfg.cometConfig()
	genesis, err := LoadGenesis(cfg.Home)
	if err != nil {
		return nil, err
	}
	nodeKey, err := p2p.LoadNodeKey(ccfg.NodeKeyFile())
	if err != nil {
		return nil, fmt.Errorf("consensus: node key %s: %w", ccfg.NodeKeyFile(), err)
	}
	pv, recovering, err := loadPrivValidator(ccfg)
	if err != nil {
		return nil, fmt.Errorf("consensus: %w", err)
	}
	if recovering {
		if soleValidator(genesis, pv.GetAddress()) {
			return nil, lostSoleValidatorError(ccfg, genesis.ChainID)
		}
		log.Warn("validator sign state is missing: recovering it; the node signs nothing until it has caught up with its peers, then only above their height",
			"file", ccfg.PrivValidatorStateFile())
	}
	return &Node{
		cfg:     cfg,
		app:     &peerGate{Application: app},
		log:     log,
		nodeKey: nodeKey,
		signer:  newGuardedSigner(pv, recovering),
		genesis: genesis,
	}, nil
}

// Start builds the CometBFT node (opening its databases and replaying any
// blocks the app has not seen, which may take a while: ctx bounds it) and
// starts it: p2p listener, peers, consensus, and the RPC server if
// configured. Start returns once the node runs; it does not wait for blocks.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateStarted:
		return fmt.Errorf("consensus: node already started")
	case stateClosed:
		return ErrClosed
	}
	ccfg := n.cfg.cometConfig()
	ccfg.FilterPeers = true // see peerGate
	if err := checkSoleValidatorChain(ccfg, n.genesis, n.signer.pv); err != nil {
		return err
	}
	if err := writeConfigFile(ccfg); err != nil {
		return fmt.Errorf("consensus: start: %w", err)
	}
	dbs := &dbTracker{}
	genesis := n.genesis
	var cmt *nm.Node
	err := catchPanic(func() {
		var err error
		cmt, err = nm.NewNodeWithContext(ctx, ccfg, n.signer, n.nodeKey,
			// One mutex over all ABCI connections: the app need not be safe
			// for concurrent use (NewConnSyncLocalClientCreator would call
			// CheckTx and FinalizeBlock concurrently).
			proxy.NewLocalClientCreator(n.app),
			func() (*types.GenesisDoc, error) { return genesis, nil },
			dbs.provider,
			nm.DefaultMetricsProvider(ccfg.Instrumentation), // Prometheus is off: no-op metrics
			newSlogAdapter(slog.New(quietRefusals{n.log.Handler()}), n.cfg.LogLevel),
		)
		if err != nil {
			panic(err)
		}
	})
	if err != nil {
		// NewNode has no undo: close what we can reach.
		return errors.Join(fmt.Errorf("consensus: create node: %w", err), dbs.closeAll())
	}
	router, err := newEventRouter(ctx, cmt.EventBus(), n.log)
	if err == nil {
		err = cmt.Start()
	}
	if err != nil {
		// OnStop undoes a partial OnStart (listeners, event bus) and NewNode's
		// services; Stop would refuse a node that never started.
		stopErr := catchPanic(cmt.OnStop)
		if router != nil {
			router.wait()
		}
		return errors.Join(fmt.Errorf("consensus: start node: %w", err), stopErr,
			stopProxyApp(cmt), dbs.closeAll())
	}
	n.live = &live{cmt: cmt, rpc: local.New(cmt), router: router}
	if g, _, _ := n.signer.state(); g.recovering && !g.decided {
		n.live.recoverer = startRecoverer(n.signer, cmt, ccfg.PrivValidatorStateFile(), n.log)
	}
	n.dbs = dbs
	n.state = stateStarted
	n.log.Info("consensus node started", "node_id", n.NodeID(), "chain_id", n.genesis.ChainID,
		"p2p", n.P2PAddress(), "rpc", n.cfg.RPCListen)
	return nil
}

// Close stops the node and waits for it: consensus, p2p, RPC, event routing,
// then closes its databases. Calls waiting in BroadcastTxCommit return
// ErrClosed and NewBlocks channels close. Close is idempotent; it does not
// close the application, which the caller owns.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		wasStarted := n.state == stateStarted
		n.state = stateClosed
		n.mu.Unlock()
		if !wasStarted {
			return
		}
		n.app.closing.Store(true)
		var errs []error
		if n.live.recoverer != nil {
			n.live.recoverer.close()
		}
		if err := n.live.cmt.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("consensus: stop node: %w", err))
		}
		n.live.cmt.Wait()
		// Stopping the event bus cancels the router's subscriptions.
		n.live.router.wait()
		errs = append(errs, stopProxyApp(n.live.cmt), n.dbs.closeAll())
		n.closeErr = errors.Join(errs...)
		n.log.Info("consensus node stopped", "node_id", n.NodeID())
	})
	return n.closeErr
}

// stopProxyApp stops the ABCI connections, which CometBFT v0.38's
// Node.OnStop leaves running (with a goroutine watching them).
func stopProxyApp(cmt *nm.Node) error {
	if err := cmt.ProxyApp().Stop(); err != nil && !errors.Is(err, service.ErrAlreadyStopped) {
		return fmt.Errorf("consensus: stop abci connections: %w", err)
	}
	return nil
}

// live is what exists only while the node runs.
type live struct {
	cmt       *nm.Node
	rpc       *local.Local
	router    *eventRouter
	recoverer *recoverer // nil unless the validator is recovering its sign state
}

// running returns the started node, or ErrNotStarted / ErrClosed.
func (n *Node) running() (*live, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	switch n.state {
	case stateNew:
		return nil, ErrNotStarted
	case stateClosed:
		return nil, ErrClosed
	}
	return n.live, nil
}

// NodeID is the CometBFT node id: hex of the node key's address.
func (n *Node) NodeID() string { return string(n.nodeKey.ID()) }

// ChainID is the genesis chain id.
func (n *Node) ChainID() string { return n.genesis.ChainID }

// Home is the CometBFT home directory.
func (n *Node) Home() string { return n.cfg.Home }

// P2PAddress is "nodeid@host:port" for peers to dial: the ExternalAddress if
// set, else the listen address.
func (n *Node) P2PAddress() string {
	addr := n.cfg.P2PListen
	if n.cfg.ExternalAddress != "" {
		addr = n.cfg.ExternalAddress
	}
	return p2p.IDAddressString(n.nodeKey.ID(), addr)
}

// DialPeers connects to peers learnt after start ("nodeid@host:port", for
// example from gossip announcements), in the background; addresses of peers
// already connected are skipped. Only Config.PersistentPeers are redialled
// by CometBFT when a connection drops: adding persistent peers to a running
// CometBFT v0.38 switch (AddPersistentPeers) races with its own dialer, so a
// caller that wants a peer learnt later kept calls DialPeers again when
// Connected reports it gone.
func (n *Node) DialPeers(addrs []string) error {
	for _, a := range addrs {
		if err := validatePeerAddress(a); err != nil {
			return fmt.Errorf("consensus: peer address %q: %v: %w", a, err, xnode.ErrInvalidArgument)
		}
	}
	l, err := n.running()
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return nil
	}
	if err := l.cmt.Switch().DialPeersAsync(addrs); err != nil {
		return fmt.Errorf("consensus: dial peers: %w", err)
	}
	return nil
}

// Connected reports whether the CometBFT peer with this node id is connected.
func (n *Node) Connected(nodeID string) bool {
	l, err := n.running()
	if err != nil {
		return false
	}
	return l.cmt.Switch().Peers().Has(p2p.ID(nodeID))
}

// Status is a snapshot of the node's view of the chain.
type Status struct {
	// NodeID is the CometBFT node id.
	NodeID string
	// ChainID is the genesis chain id.
	ChainID string
	// Height is the latest committed block height (0 before the first block).
	Height int64
	// AppHash is the hex app hash in the latest block's header, as
	// CometBFT's /status reports it: the app state after block Height-1.
	AppHash string
	// CatchingUp is true while the node block-syncs from peers rather than
	// taking part in consensus.
	CatchingUp bool
	// Peers is the number of connected CometBFT peers.
	Peers int
	// Validator is true when this node's key is in the current validator set.
	Validator bool
	// VotingPower is this node's voting power (0 for a full node).
	VotingPower int64
	// Recovering is true while the node, started without its priv validator
	// state, signs nothing: until it has caught up with its peers and
	// written its recovery floor (see doc.go, Recovery).
	Recovering bool
}

// Status reports the node's chain status.
func (n *Node) Status(ctx context.Context) (Status, error) {
	l, err := n.running()
	if err != nil {
		return Status{}, err
	}
	st, err := l.rpc.Status(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("consensus: status: %w", err)
	}
	g, _, _ := n.signer.state()
	return Status{
		NodeID:      n.NodeID(),
		ChainID:     n.genesis.ChainID,
		Height:      st.SyncInfo.LatestBlockHeight,
		AppHash:     hex.EncodeToString(st.SyncInfo.LatestAppHash),
		CatchingUp:  st.SyncInfo.CatchingUp,
		Peers:       l.cmt.Switch().Peers().Size(),
		Validator:   st.ValidatorInfo.VotingPower > 0,
		VotingPower: st.ValidatorInfo.VotingPower,
		Recovering:  g.recovering && !g.decided,
	}, nil
}

// CommittedAppHash returns the app hash after executing block height, which
// CometBFT records in the header of block height+1. It returns an error
// wrapping xnode.ErrNotFound until that block is stored. Two nodes that agree
// on it agree on the whole app state at height.
func (n *Node) CommittedAppHash(height int64) ([]byte, error) {
	l, err := n.running()
	if err != nil {
		return nil, err
	}
	meta := l.cmt.BlockStore().LoadBlockMeta(height + 1)
	if meta == nil {
		return nil, fmt.Errorf("consensus: app hash at height %d: %w", height, xnode.ErrNotFound)
	}
	return meta.Header.AppHash, nil
}

// Query asks the application (ABCI Query on the query connection, serialized
// with the app's other calls) and returns its answer. An application error
// code is in the response, not the error.
func (n *Node) Query(ctx context.Context, path string, data []byte) (abcitypes.ResponseQuery, error) {
	l, err := n.running()
	if err != nil {
		return abcitypes.ResponseQuery{}, err
	}
	res, err := l.cmt.ProxyApp().Query().Query(ctx, &abcitypes.RequestQuery{Path: path, Data: data})
	if err != nil {
		return abcitypes.ResponseQuery{}, fmt.Errorf("consensus: query %s: %w", path, err)
	}
	return *res, nil
}
