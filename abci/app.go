package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// AppVersion is the protocol version of the state machine reported by Info.
const AppVersion uint64 = 1

// Version is the software version string reported by Info.
const Version = "xnode-abci/1"

var _ abcitypes.Application = (*App)(nil)

// App is the verified-data state machine. Its ABCI methods are safe for
// concurrent use by CometBFT's connections; see doc.go.
type App struct {
	cfg      Config
	logger   *slog.Logger
	db       *badger.DB
	reg      prometheus.Registerer
	rejected *prometheus.CounterVec // nil without a registerer

	mu         sync.Mutex
	tree       *stateTree
	chainID    string           // from InitChain, in the state
	validators map[string]int64 // committed table: pubkey → power
	totalPower int64
	// genesis holds InitChain's writes until the first Commit saves them
	// together with the first block, as version InitialHeight.
	genesis     *overlay
	committed   reader   // committed state: genesis, or the last saved version
	check       *overlay // CheckTx state over committed state; reset on Commit
	block       *overlay // FinalizeBlock staging; nil until FinalizeBlock
	blockHeight int64    // the height FinalizeBlock staged
	blockHash   []byte   // the app hash FinalizeBlock computed
	// blockUpdates says the staged block changed the validator table.
	blockUpdates bool

	// view is what Query reads at the latest height, swapped on Commit.
	view atomic.Pointer[queryView]

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// queryView is the latest committed state as Query sees it.
type queryView struct {
	height  int64
	tree    *iavl.ImmutableTree // nil before the first Commit
	genesis *overlay            // InitChain's state before the first Commit
}

// New opens (or creates) the state DB, finishes any interrupted commit and
// loads the committed height, chain id and validator table. It starts no
// goroutine of its own (badger runs its compactors until Close). reg may be
// nil for no metrics.
func New(cfg Config, reg prometheus.Registerer) (*App, error) {
	if cfg.MaxTxBytes == 0 {
		cfg.MaxTxBytes = MaxTxBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, reg: reg, logger: cfg.Logger.With("component", "abci")}
	if reg != nil {
		a.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_abci_rejected_total",
			Help: "Transactions rejected by CheckTx or FinalizeBlock, by response code.",
		}, []string{"code"})
		if err := reg.Register(a.rejected); err != nil {
			return nil, fmt.Errorf("abci: register metrics: %w", err)
		}
	}
	db, err := badger.Open(badgerOptions(cfg, a.logger))
	if err != nil {
		if reg != nil {
			reg.Unregister(a.rejected)
		}
		return nil, fmt.Errorf("abci: open state db %q: %w", cfg.Dir, err)
	}
	a.db = db
	if err := a.load(); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	return a, nil
}

func (a *App) load() error {
	t, err := openTree(a.db, a.cfg.KeepRecent, a.logger)
	if err != nil {
		return err
	}
	a.tree = t
	a.validators = make(map[string]int64)
	a.totalPower = 0
	a.committed = emptyReader{}
	view := &queryView{}
	if v := t.version(); v > 0 {
		imm, err := t.at(v)
		if err != nil {
			return fmt.Errorf("abci: load state at height %d: %w", v, err)
		}
		r := treeReader{imm}
		a.committed = r
		view = &queryView{height: v, tree: imm}
		if id, ok, err := r.get(keyChainID()); err != nil {
			return fmt.Errorf("abci: load chain id: %w", err)
		} else if ok {
			a.chainID = string(id)
		}
		if err := a.loadValidators(imm); err != nil {
			return err
		}
	}
	a.view.Store(view)
	a.check = newOverlay(a.committed)
	a.logger.Info("state loaded", "height", t.version(), "app_hash", fmt.Sprintf("%X", t.hash()),
		"chain_id", a.chainID, "validators", len(a.validators), "oldest_height", t.oldest)
	return nil
}

// loadValidators reads the validator table of a saved version.
func (a *App) loadValidators(imm *iavl.ImmutableTree) error {
	set, err := appliedSet(treeReader{imm})
	if err != nil {
		return fmt.Errorf("abci: load validators: %w", err)
	}
	for pub, power := range set {
		a.validators[pub] = power
		a.totalPower += power
	}
	return nil
}

// Close closes the state DB. Staged, uncommitted state is dropped, as in a
// crash. Safe to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		a.closed.Store(true)
		if a.db != nil {
			a.mu.Lock()
			a.closeErr = a.db.Close()
			a.mu.Unlock()
		}
		// Unregister so that a restarted App can register on the same
		// registry, as a node that reopens its state does.
		if a.reg != nil {
			a.reg.Unregister(a.rejected)
		}
	})
	return a.closeErr
}

// Info reports the last committed height and app hash, so that CometBFT
// replays exactly the blocks after them.
func (a *App) Info(context.Context, *abcitypes.RequestInfo) (*abcitypes.ResponseInfo, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return &abcitypes.ResponseInfo{
		Data:             fmt.Sprintf(`{"chain_id":%q}`, a.chainID),
		Version:          Version,
		AppVersion:       AppVersion,
		LastBlockHeight:  a.tree.version(),
		LastBlockAppHash: a.tree.hash(),
	}, nil
}

// InitChain stages the chain id, genesis params and admins, the genesis
// namespaces and records, and the genesis validators, and returns the
// resulting app hash, which becomes the app hash of the first block. Nothing
// is written until the first Commit, which saves genesis together with the
// first block as the tree's first version. CometBFT calls InitChain again
// after a crash before that Commit; it then starts from empty again.
func (a *App) InitChain(_ context.Context, req *abcitypes.RequestInitChain) (*abcitypes.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v := a.tree.version(); v > 0 {
		return nil, fmt.Errorf("abci: InitChain on a state at height %d", v)
	}
	if req.ChainId == "" || len(req.ChainId) > MaxChainIDLen {
		return nil, fmt.Errorf("abci: InitChain: chain id must be 1-%d bytes, got %q", MaxChainIDLen, req.ChainId)
	}
	g, err := ParseGenesisState(req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("abci: InitChain: %w", err)
	}
	o := newOverlay(emptyReader{})
	o.set(keyChainID(), []byte(req.ChainId))
	if err := g.stage(o); err != nil {
		return nil, fmt.Errorf("abci: InitChain: %w", err)
	}
	vals := make(map[string]int64, len(req.Validators))
	var total int64
	for i, v := range req.Validators {
		pub := v.PubKey.GetEd25519()
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("abci: InitChain: validators[%d]: only ed25519 keys are supported", i)
		}
		if v.Power <= 0 {
			continue
		}
		vals[string(pub)] += v.Power
		total += v.Power
	}
	for pub, power := range vals {
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], uint64(power))
		o.set(keyValidator([]byte(pub)), p[:])
	}
	if err := matchGenesisValidators(g, vals); err != nil {
		return nil, fmt.Errorf("abci: InitChain: %w", err)
	}
	a.tree.rollback()
	a.tree.setInitialVersion(req.InitialHeight)
	hash, err := a.tree.apply(o)
	a.tree.rollback()
	if err != nil {
		return nil, fmt.Errorf("abci: InitChain: %w", err)
	}
	a.genesis = o
	a.committed = o
	a.chainID = req.ChainId
	a.validators = vals
	a.totalPower = total
	a.check = newOverlay(a.committed)
	a.block = nil
	a.view.Store(&queryView{genesis: o})
	a.logger.Info("chain initialised", "chain_id", req.ChainId, "validators", len(vals),
		"params", g.Params, "admins", len(g.Admins), "namespaces", len(g.Namespaces), "records", len(g.Records))
	return &abcitypes.ResponseInitChain{AppHash: hash}, nil
}

// matchGenesisValidators checks that each of app_state's staked validators
// is among CometBFT's genesis validators with power equal to its stake.
// CometBFT's genesis validators app_state does not list are fixed: no
// account is bound to them and they keep their power (the older form of a
// genesis, and validators a chain carried over with export-genesis).
func matchGenesisValidators(g GenesisState, vals map[string]int64) error {
	for i, v := range g.Validators {
		power, ok := vals[string(v.PubKey)]
		if !ok {
			return fmt.Errorf("app_state validators[%d] (%x) is not in the genesis validator set", i, v.PubKey)
		}
		if uint64(power) != v.Stake {
			return fmt.Errorf("app_state validators[%d] (%x) stakes %d but has power %d in the genesis validator set", i, v.PubKey, v.Stake, power)
		}
	}
	return nil
}

// CheckTx admits a transaction to the mempool if it would succeed on the
// committed state plus the transactions already admitted since the last
// Commit (so a nonce pending in the mempool is a replay, and a record may be
// submitted right after its namespace registration). Bad input gets a
// response code, never a Go error.
func (a *App) CheckTx(_ context.Context, req *abcitypes.RequestCheckTx) (*abcitypes.ResponseCheckTx, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	tx := newOverlay(a.check)
	events, err := a.deliverTx(tx, req.Tx, a.tree.version()+1, time.Now(), a.cfg.MaxTxBytes)
	code := CodeOf(err)
	if err != nil {
		a.countReject(code)
		return &abcitypes.ResponseCheckTx{Code: code, Log: err.Error()}, nil
	}
	tx.mergeInto(a.check)
	return &abcitypes.ResponseCheckTx{Code: CodeOK, Events: events}, nil
}

// PrepareProposal keeps, in order, the transactions that decode and fit the
// local size limit, up to req.MaxTxBytes in total.
func (a *App) PrepareProposal(_ context.Context, req *abcitypes.RequestPrepareProposal) (*abcitypes.ResponsePrepareProposal, error) {
	txs := make([][]byte, 0, len(req.Txs))
	var total int64
	for _, tx := range req.Txs {
		if len(tx) > a.cfg.MaxTxBytes {
			continue
		}
		if _, err := DecodeTx(tx); err != nil {
			continue
		}
		if total+int64(len(tx)) > req.MaxTxBytes {
			break
		}
		total += int64(len(tx))
		txs = append(txs, tx)
	}
	return &abcitypes.ResponsePrepareProposal{Txs: txs}, nil
}

// ProcessProposal rejects a block holding a transaction that does not
// decode under the protocol rules (DecodeTx, which every node applies
// alike). An honest proposer never includes one (PrepareProposal drops
// them), so such a block comes from a faulty proposer. Every other failure
// (signature, replay, state) is left to FinalizeBlock, which answers it with
// a response code.
func (a *App) ProcessProposal(_ context.Context, req *abcitypes.RequestProcessProposal) (*abcitypes.ResponseProcessProposal, error) {
	for i, tx := range req.Txs {
		if _, err := DecodeTx(tx); err != nil {
			a.logger.Warn("rejecting proposal with undecodable tx", "height", req.Height, "index", i, "err", err)
			return &abcitypes.ResponseProcessProposal{Status: abcitypes.ResponseProcessProposal_REJECT}, nil
		}
	}
	return &abcitypes.ResponseProcessProposal{Status: abcitypes.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes the block's transactions in order against a
// staging overlay of the committed state and returns one result per
// transaction and the new app hash. Nothing is persisted until Commit. A Go
// error (which halts the node) is returned only when the state DB cannot be
// read, never for a bad transaction.
func (a *App) FinalizeBlock(_ context.Context, req *abcitypes.RequestFinalizeBlock) (*abcitypes.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.chainID == "" {
		return nil, errors.New("abci: FinalizeBlock before InitChain")
	}
	if v := a.tree.version(); v > 0 && req.Height != v+1 {
		return nil, fmt.Errorf("abci: FinalizeBlock height %d after committed height %d", req.Height, v)
	}
	block := newOverlay(a.committed)
	results := make([]*abcitypes.ExecTxResult, len(req.Txs))
	for i, raw := range req.Txs {
		events, err := a.deliverTx(block, raw, req.Height, req.Time, MaxTxBytes)
		code := CodeOf(err)
		if code == CodeInternal {
			return nil, fmt.Errorf("abci: FinalizeBlock height %d tx %d: %w", req.Height, i, err)
		}
		if err != nil {
			a.countReject(code)
			results[i] = &abcitypes.ExecTxResult{Code: code, Log: err.Error()}
			continue
		}
		results[i] = &abcitypes.ExecTxResult{Code: CodeOK, Events: events}
	}
	end := newOverlay(block)
	updates, events, err := a.endBlock(end, req)
	switch {
	case CodeOf(err) == CodeInternal:
		return nil, fmt.Errorf("abci: FinalizeBlock height %d end of block: %w", req.Height, err)
	case err != nil:
		// A rule of the end of block failed on the state itself: never
		// halt; log it, drop its writes and let the transactions stand.
		a.logger.Error("end of block failed", "height", req.Height, "err", err)
		updates, events = nil, nil
	default:
		end.mergeInto(block)
	}
	// The working tree holds exactly this block's writes (over genesis
	// before the first block), whatever an earlier FinalizeBlock left.
	a.tree.rollback()
	if a.genesis != nil {
		if _, err := a.tree.apply(a.genesis); err != nil {
			return nil, fmt.Errorf("abci: FinalizeBlock height %d: %w", req.Height, err)
		}
	}
	hash, err := a.tree.apply(block)
	if err != nil {
		return nil, fmt.Errorf("abci: FinalizeBlock height %d: %w", req.Height, err)
	}
	a.block = block
	a.blockHeight = req.Height
	a.blockHash = hash
	a.blockUpdates = len(updates) > 0
	return &abcitypes.ResponseFinalizeBlock{TxResults: results, AppHash: hash,
		ValidatorUpdates: updates, Events: events}, nil
}

// Commit saves the staged block as the tree's next version (synced to
// disk), prunes versions beyond the configured window, then resets the
// CheckTx state (CometBFT rechecks the mempool next, which rebuilds it).
func (a *App) Commit(context.Context, *abcitypes.RequestCommit) (*abcitypes.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.block == nil {
		return nil, errors.New("abci: Commit without FinalizeBlock")
	}
	hash, v, err := a.tree.save()
	if err != nil {
		return nil, err
	}
	if v != a.blockHeight || !bytes.Equal(hash, a.blockHash) {
		return nil, fmt.Errorf("abci: Commit saved height %d hash %X, FinalizeBlock staged height %d hash %X",
			v, hash, a.blockHeight, a.blockHash)
	}
	imm, err := a.tree.at(v)
	if err != nil {
		return nil, fmt.Errorf("abci: Commit: read back height %d: %w", v, err)
	}
	a.committed = treeReader{imm}
	if a.blockUpdates {
		a.validators = make(map[string]int64)
		a.totalPower = 0
		if err := a.loadValidators(imm); err != nil {
			return nil, err
		}
	}
	a.genesis = nil
	a.block = nil
	a.check = newOverlay(a.committed)
	a.view.Store(&queryView{height: v, tree: imm})
	return &abcitypes.ResponseCommit{}, nil
}

// ExtendVote adds nothing: vote extensions are unused.
func (a *App) ExtendVote(context.Context, *abcitypes.RequestExtendVote) (*abcitypes.ResponseExtendVote, error) {
	return &abcitypes.ResponseExtendVote{}, nil
}

// VerifyVoteExtension accepts: vote extensions are unused.
func (a *App) VerifyVoteExtension(context.Context, *abcitypes.RequestVerifyVoteExtension) (*abcitypes.ResponseVerifyVoteExtension, error) {
	return &abcitypes.ResponseVerifyVoteExtension{Status: abcitypes.ResponseVerifyVoteExtension_ACCEPT}, nil
}

// ListSnapshots offers none: state sync is not supported.
func (a *App) ListSnapshots(context.Context, *abcitypes.RequestListSnapshots) (*abcitypes.ResponseListSnapshots, error) {
	return &abcitypes.ResponseListSnapshots{}, nil
}

// OfferSnapshot declines: state sync is not supported.
func (a *App) OfferSnapshot(context.Context, *abcitypes.RequestOfferSnapshot) (*abcitypes.ResponseOfferSnapshot, error) {
	return &abcitypes.ResponseOfferSnapshot{Result: abcitypes.ResponseOfferSnapshot_REJECT}, nil
}

// LoadSnapshotChunk returns nothing: state sync is not supported.
func (a *App) LoadSnapshotChunk(context.Context, *abcitypes.RequestLoadSnapshotChunk) (*abcitypes.ResponseLoadSnapshotChunk, error) {
	return &abcitypes.ResponseLoadSnapshotChunk{}, nil
}

// ApplySnapshotChunk aborts: state sync is not supported.
func (a *App) ApplySnapshotChunk(context.Context, *abcitypes.RequestApplySnapshotChunk) (*abcitypes.ResponseApplySnapshotChunk, error) {
	return &abcitypes.ResponseApplySnapshotChunk{Result: abcitypes.ResponseApplySnapshotChunk_ABORT}, nil
}

func (a *App) countReject(code uint32) {
	if a.rejected != nil {
		a.rejected.WithLabelValues(CodeName(code)).Inc()
	}
}
