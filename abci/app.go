package abci

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	abcitypes "github.com/cometbft/cometbft/abci/types"
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
	committed  meta             // last committed height and app hash
	chainID    string           // from InitChain, persisted
	validators map[string]int64 // committed table: pubkey → power
	totalPower int64
	check      *overlay // CheckTx state over committed state; reset on Commit
	block      *overlay // FinalizeBlock staging; nil until FinalizeBlock
	blockMeta  meta     // height and hash FinalizeBlock computed for block

	// commitMu keeps Query from seeing a journaled commit half applied.
	commitMu sync.RWMutex

	closeOnce sync.Once
	closeErr  error
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
	if err := recoverJournal(a.db, a.logger); err != nil {
		return err
	}
	m, err := loadMeta(a.db)
	if err != nil {
		return err
	}
	a.committed = m
	r := dbReader{a.db}
	if id, ok, err := r.get(keyChainID()); err != nil {
		return fmt.Errorf("abci: load chain id: %w", err)
	} else if ok {
		a.chainID = string(id)
	}
	a.validators = make(map[string]int64)
	a.totalPower = 0
	err = a.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixValidator)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			pub := item.KeyCopy(nil)[len(prefixValidator):]
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) != 8 {
				return fmt.Errorf("validator entry of %d bytes", len(v))
			}
			power := int64(binary.BigEndian.Uint64(v))
			a.validators[string(pub)] = power
			a.totalPower += power
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("abci: load validators: %w", err)
	}
	a.check = newOverlay(dbReader{a.db})
	a.logger.Info("state loaded", "height", m.Height, "app_hash", fmt.Sprintf("%X", m.AppHash),
		"chain_id", a.chainID, "validators", len(a.validators))
	return nil
}

// Close closes the state DB. Staged, uncommitted state is dropped, as in a
// crash. Safe to call more than once.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		if a.db != nil {
			a.commitMu.Lock()
			a.closeErr = a.db.Close()
			a.commitMu.Unlock()
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
		LastBlockHeight:  a.committed.Height,
		LastBlockAppHash: a.committed.AppHash,
	}, nil
}

// InitChain stores the chain id, genesis params and admins and the genesis
// validators, and commits them at height 0. It returns the resulting app
// hash, which becomes the app hash of the first block. CometBFT calls it
// again after a crash before the first Commit; it then starts from empty.
func (a *App) InitChain(_ context.Context, req *abcitypes.RequestInitChain) (*abcitypes.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.committed.Height > 0 {
		return nil, fmt.Errorf("abci: InitChain on a state at height %d", a.committed.Height)
	}
	if req.ChainId == "" || len(req.ChainId) > MaxChainIDLen {
		return nil, fmt.Errorf("abci: InitChain: chain id must be 1-%d bytes, got %q", MaxChainIDLen, req.ChainId)
	}
	g, err := ParseGenesisState(req.AppStateBytes)
	if err != nil {
		return nil, fmt.Errorf("abci: InitChain: %w", err)
	}
	o := newOverlay(dbReader{a.db})
	o.set(keyChainID(), []byte(req.ChainId))
	if err := setCBOR(o, keyParams(), g.Params); err != nil {
		return nil, err
	}
	for _, admin := range g.Admins {
		o.set(keyAdmin(admin), []byte{})
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
		var p [8]byte
		binary.BigEndian.PutUint64(p[:], uint64(v.Power))
		o.set(keyValidator(pub), p[:])
		vals[string(pub)] += v.Power
		total += v.Power
	}
	m := meta{Height: 0, AppHash: chainHash(nil, o.digest())}
	a.commitMu.Lock()
	err = a.db.DropAll()
	if err == nil {
		err = commit(a.db, o, m)
	}
	a.commitMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("abci: InitChain: %w", err)
	}
	a.committed = m
	a.chainID = req.ChainId
	a.validators = vals
	a.totalPower = total
	a.check = newOverlay(dbReader{a.db})
	a.block = nil
	a.logger.Info("chain initialised", "chain_id", req.ChainId, "validators", len(vals),
		"params", g.Params, "admins", len(g.Admins))
	return &abcitypes.ResponseInitChain{AppHash: m.AppHash}, nil
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
	events, err := a.deliverTx(tx, req.Tx, a.committed.Height+1, a.cfg.MaxTxBytes)
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
	if a.committed.Height > 0 && req.Height != a.committed.Height+1 {
		return nil, fmt.Errorf("abci: FinalizeBlock height %d after committed height %d", req.Height, a.committed.Height)
	}
	block := newOverlay(dbReader{a.db})
	results := make([]*abcitypes.ExecTxResult, len(req.Txs))
	for i, raw := range req.Txs {
		events, err := a.deliverTx(block, raw, req.Height, MaxTxBytes)
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
	a.block = block
	a.blockMeta = meta{Height: req.Height, AppHash: chainHash(a.committed.AppHash, block.digest())}
	return &abcitypes.ResponseFinalizeBlock{TxResults: results, AppHash: a.blockMeta.AppHash}, nil
}

// Commit persists the staged block and its height and app hash in one
// atomic write, then resets the CheckTx state (CometBFT rechecks the
// mempool next, which rebuilds it).
func (a *App) Commit(context.Context, *abcitypes.RequestCommit) (*abcitypes.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.block == nil {
		return nil, errors.New("abci: Commit without FinalizeBlock")
	}
	a.commitMu.Lock()
	err := commit(a.db, a.block, a.blockMeta)
	a.commitMu.Unlock()
	if err != nil {
		return nil, err
	}
	a.committed = a.blockMeta
	a.block = nil
	a.check = newOverlay(dbReader{a.db})
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
