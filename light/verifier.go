package light

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtlog "github.com/cometbft/cometbft/libs/log"
	cmtlight "github.com/cometbft/cometbft/light"
	"github.com/cometbft/cometbft/light/provider"
	httpprovider "github.com/cometbft/cometbft/light/provider/http"
	lightdb "github.com/cometbft/cometbft/light/store/db"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	jsonrpcclient "github.com/cometbft/cometbft/rpc/jsonrpc/client"
	"github.com/cometbft/cometbft/types"
)

// Verifier answers queries of the xnode state from untrusted nodes and
// checks every answer: the header that commits to the state by CometBFT's
// light client (from the trust root, cross-checked against the witnesses),
// then the answer's ICS23 proof against that header's app hash. Its
// methods are safe for concurrent use.
type Verifier struct {
	cfg       Config
	log       *slog.Logger
	now       func() time.Time
	rpc       *rpchttp.HTTP   // the primary's RPC, for queries and status
	witRPC    []*rpchttp.HTTP // the witnesses', for their latest heights
	primary   provider.Provider
	witnesses []provider.Provider

	idle []func() // close each RPC client's idle connections

	mu     sync.Mutex
	client *cmtlight.Client // set by Start, nil after Close
	closed bool
}

// New checks cfg and prepares a Verifier. It contacts no node: Start does.
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, log: cfg.Logger, now: cfg.Now}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	mk := func(remote string) (*rpchttp.HTTP, provider.Provider, error) {
		hc, err := jsonrpcclient.DefaultHTTPClient(remote)
		if err != nil {
			return nil, nil, fmt.Errorf("light: RPC client for %s: %w", remote, err)
		}
		hc.Timeout = cfg.RequestTimeout
		if tr, ok := hc.Transport.(interface{ CloseIdleConnections() }); ok {
			v.idle = append(v.idle, tr.CloseIdleConnections)
		}
		c, err := rpchttp.NewWithClient(remote, "/websocket", hc)
		if err != nil {
			return nil, nil, fmt.Errorf("light: RPC client for %s: %w", remote, err)
		}
		return c, httpprovider.NewWithClient(cfg.ChainID, c), nil
	}
	var err error
	if v.rpc, v.primary, err = mk(cfg.Primary); err != nil {
		return nil, err
	}
	for _, w := range cfg.Witnesses {
		c, p, err := mk(w)
		if err != nil {
			return nil, err
		}
		v.witRPC = append(v.witRPC, c)
		v.witnesses = append(v.witnesses, p)
	}
	return v, nil
}

// Start establishes trust: with a genesis trust root it fetches block 1
// from the primary and checks that it carries the genesis validator set's
// hash and more than 2/3 of its power in signatures; then CometBFT's light
// client fetches the trusted header from the primary, checks its hash and
// cross-checks it with the witnesses. ctx bounds the requests.
func (v *Verifier) Start(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return fmt.Errorf("%w: closed", ErrNotStarted)
	}
	if v.client != nil {
		return errors.New("light: verifier already started")
	}
	opts := cmtlight.TrustOptions{Period: v.cfg.TrustingPeriod, Height: v.cfg.TrustRoot.Height, Hash: v.cfg.TrustRoot.Hash}
	if g := v.cfg.TrustRoot.Genesis; g != nil {
		hash, err := v.genesisHeader(ctx, g)
		if err != nil {
			return err
		}
		opts.Height, opts.Hash = 1, hash
	}
	client, err := cmtlight.NewClient(ctx, v.cfg.ChainID, opts, v.primary, v.witnesses,
		lightdb.New(dbm.NewMemDB(), "light"),
		cmtlight.SkippingVerification(cmtlight.DefaultTrustLevel),
		cmtlight.MaxClockDrift(v.cfg.MaxClockDrift),
		cmtlight.MaxBlockLag(v.cfg.MaxBlockLag),
		cmtlight.MaxRetryAttempts(2),
		cmtlight.Logger(cmtlog.NewNopLogger()),
	)
	if err != nil {
		if k := classify(err); k != ErrUntrusted {
			return fmt.Errorf("%w: trust root at height %d: %w", k, opts.Height, err)
		}
		return fmt.Errorf("%w: trusted header at height %d (hash %X): %w", ErrTrustRoot, opts.Height, opts.Hash, err)
	}
	v.client = client
	v.log.Debug("light client started", "chain_id", v.cfg.ChainID, "trusted_height", opts.Height)
	return nil
}

// genesisHeader turns the genesis validator set into a trusted header:
// block 1 as the primary serves it, whose validators hash must be the
// genesis set's and whose commit must carry more than 2/3 of its power.
func (v *Verifier) genesisHeader(ctx context.Context, g *types.GenesisDoc) ([]byte, error) {
	vals := make([]*types.Validator, 0, len(g.Validators))
	for _, gv := range g.Validators {
		vals = append(vals, types.NewValidator(gv.PubKey, gv.Power))
	}
	set, err := types.ValidatorSetFromExistingValidators(vals)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis validator set: %v", ErrTrustRoot, err)
	}
	lb, err := v.primary.LightBlock(ctx, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: block 1 from the primary %s: %w", classifyProvider(err), v.cfg.Primary, err)
	}
	if !bytes.Equal(lb.ValidatorsHash, set.Hash()) {
		return nil, fmt.Errorf("%w: block 1 names validator set %X, the genesis set is %X", ErrTrustRoot, lb.ValidatorsHash, set.Hash())
	}
	if err := set.VerifyCommitLight(v.cfg.ChainID, lb.Commit.BlockID, 1, lb.Commit); err != nil {
		var low types.ErrNotEnoughVotingPowerSigned
		if errors.As(err, &low) {
			return nil, fmt.Errorf("%w: block 1 is signed by %d of the genesis set's %d voting power, need more than 2/3", ErrInsufficientPower, low.Got, set.TotalVotingPower())
		}
		return nil, fmt.Errorf("%w: block 1's commit by the genesis validators: %v", ErrTrustRoot, err)
	}
	return lb.Hash(), nil
}

// Close releases the Verifier and closes its idle RPC connections. A
// call in flight finishes or fails on its own. Close is idempotent.
func (v *Verifier) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.closed = true
	v.client = nil
	for _, f := range v.idle {
		f()
	}
	return nil
}

func (v *Verifier) lightClient() (*cmtlight.Client, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.client == nil {
		if v.closed {
			return nil, fmt.Errorf("%w: closed", ErrNotStarted)
		}
		return nil, fmt.Errorf("%w: call Start first", ErrNotStarted)
	}
	return v.client, nil
}

// Result is a verified answer.
type Result struct {
	// Path and Data are the query as asked.
	Path string `json:"path"`
	Data []byte `json:"data,omitempty"`
	// Key is the state key the proof is about.
	Key []byte `json:"key"`
	// Found reports whether the key is present; when false the proof is an
	// absence proof and Raw and Value are nil.
	Found bool `json:"found"`
	// Raw is the stored value (canonical CBOR for the xnode state).
	Raw []byte `json:"raw,omitempty"`
	// Value is Raw decoded by the typed methods (abci.Record for Record,
	// abci.Namespace for Namespace, abci.Params for Params); nil for Query
	// and when absent.
	Value any `json:"value,omitempty"`
	// Height is the height whose state was read; the header that commits
	// to it is HeaderHeight = Height+1.
	Height       int64     `json:"height"`
	HeaderHeight int64     `json:"header_height"`
	HeaderHash   []byte    `json:"header_hash"`
	HeaderTime   time.Time `json:"header_time"`
	AppHash      []byte    `json:"app_hash"`
	// SignedPower is the voting power of the valid signatures on the
	// header's commit; TotalPower the power of the header's validator set.
	SignedPower int64 `json:"signed_power"`
	TotalPower  int64 `json:"total_power"`
	// Proof is the proof as received.
	Proof Proof `json:"proof"`
}

// String is "verified at height H by signatures of N of M voting power".
func (r Result) String() string {
	return fmt.Sprintf("verified at height %d by signatures of %d of %d voting power", r.Height, r.SignedPower, r.TotalPower)
}

// Proof is a proven query's answer as the application gave it: the
// height read, the state key, the raw value (nil when absent) and the
// proof operations. In JSON the byte fields are base64.
type Proof struct {
	Height int64     `json:"height"`
	Key    []byte    `json:"key"`
	Value  []byte    `json:"value"`
	Ops    []ProofOp `json:"ops"`
}

// ProofOp is one CometBFT proof operation.
type ProofOp struct {
	Type string `json:"type"`
	Key  []byte `json:"key"`
	Data []byte `json:"data"`
}

// ProofFrom copies the proof part of an ABCI query response.
func ProofFrom(resp abcitypes.ResponseQuery) Proof {
	p := Proof{Height: resp.Height, Key: resp.Key, Value: resp.Value, Ops: []ProofOp{}}
	if resp.ProofOps != nil {
		for _, op := range resp.ProofOps.Ops {
			p.Ops = append(p.Ops, ProofOp{Type: op.Type, Key: op.Key, Data: op.Data})
		}
	}
	return p
}

// Query asks the primary for path/data with a proof and verifies the
// answer, which must be about the state key key. It reads the state at the
// lowest latest height among the primary and the witnesses, less one, so
// that the header committing to it exists on all of them. Every refusal
// wraps one of the package's sentinel errors.
func (v *Verifier) Query(ctx context.Context, path string, data, key []byte) (Result, error) {
	lc, err := v.lightClient()
	if err != nil {
		return Result{}, err
	}
	if len(key) == 0 {
		return Result{}, errors.New("light: query: empty state key")
	}
	height, err := v.readHeight(ctx)
	if err != nil {
		return Result{}, err
	}
	res, err := v.rpc.ABCIQueryWithOptions(ctx, path, data, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s at height %d from %s: %w", ErrQueryFailed, path, height, v.cfg.Primary, err)
	}
	resp := res.Response
	if resp.Code != 0 {
		return Result{}, fmt.Errorf("%w: %s at height %d: code %d: %s", ErrQueryFailed, path, height, resp.Code, resp.Log)
	}
	if resp.Height != height {
		return Result{}, fmt.Errorf("%w: asked for the state at height %d, the answer is for height %d", ErrWrongHeight, height, resp.Height)
	}
	if !bytes.Equal(resp.Key, key) {
		return Result{}, fmt.Errorf("%w: asked for state key %q, the answer names %q", ErrWrongKey, printable(key), printable(resp.Key))
	}
	out, err := v.verify(ctx, lc, ProofFrom(resp), key)
	if err != nil {
		return Result{}, fmt.Errorf("%s at height %d: %w", path, height, err)
	}
	out.Path, out.Data = path, data
	return out, nil
}

// Verify checks a proof obtained elsewhere (for example the "proof" of
// GET /v1/records/{ns}/{key}?prove=true from any node's API) that key
// holds p.Value, or is absent when p.Value is empty, in the state at
// p.Height: it verifies header p.Height+1 as Query does and checks the
// proof against its app hash. Result.Path and Data are empty.
func (v *Verifier) Verify(ctx context.Context, p Proof, key []byte) (Result, error) {
	lc, err := v.lightClient()
	if err != nil {
		return Result{}, err
	}
	if p.Height <= 0 {
		return Result{}, fmt.Errorf("%w: the proof names height %d", ErrWrongHeight, p.Height)
	}
	if !bytes.Equal(p.Key, key) {
		return Result{}, fmt.Errorf("%w: asked for state key %q, the proof names %q", ErrWrongKey, printable(key), printable(p.Key))
	}
	return v.verify(ctx, lc, p, key)
}

// verify checks that p proves key at p.Height: the header p.Height+1 and
// then the proof against its app hash.
func (v *Verifier) verify(ctx context.Context, lc *cmtlight.Client, p Proof, key []byte) (Result, error) {
	height := p.Height
	// The header that commits to the state at height: from the primary,
	// its commit checked in full here (so that a commit with too few
	// signatures is named as such), then verified from the trust root and
	// cross-checked with the witnesses by CometBFT's light client.
	lb, signed, err := v.signedHeader(ctx, height+1)
	if err != nil {
		return Result{}, err
	}
	trusted, err := lc.VerifyLightBlockAtHeight(ctx, height+1, v.now())
	if err != nil {
		k := classify(err)
		if errors.Is(err, cmtlight.ErrNoWitnesses) {
			// The light client drops a witness that answers an invalid
			// header; with none left nothing can be cross-checked.
			return Result{}, fmt.Errorf("%w: header %d: every witness was dropped for answering a header that is invalid or differs from the primary's: %w", k, height+1, err)
		}
		return Result{}, fmt.Errorf("%w: header %d: %w", k, height+1, err)
	}
	if !bytes.Equal(trusted.Hash(), lb.Hash()) {
		return Result{}, fmt.Errorf("%w: the primary's header %d is %X, the verified one is %X", ErrUntrusted, height+1, lb.Hash(), trusted.Hash())
	}
	ops := p.proofOps()
	value := p.Value
	if len(value) == 0 {
		value = nil
		// JSON cannot tell an empty value from none: the proof says
		// which it is, and an empty value is still checked against it.
		if isExistence(ops) {
			value = []byte{}
		}
	}
	if err := CheckProof(ops, key, value, lb.AppHash); err != nil {
		return Result{}, err
	}
	return Result{
		Key: key, Found: value != nil, Raw: value,
		Height: height, HeaderHeight: height + 1, HeaderHash: lb.Hash(), HeaderTime: lb.Time,
		AppHash: lb.AppHash, SignedPower: signed, TotalPower: lb.ValidatorSet.TotalVotingPower(),
		Proof: p,
	}, nil
}

// proofOps is p's operations as CometBFT's type.
func (p Proof) proofOps() *cmtcrypto.ProofOps {
	if len(p.Ops) == 0 {
		return nil
	}
	ops := &cmtcrypto.ProofOps{}
	for _, op := range p.Ops {
		ops.Ops = append(ops.Ops, cmtcrypto.ProofOp{Type: op.Type, Key: op.Key, Data: op.Data})
	}
	return ops
}

// readHeight picks the height to read: one below the lowest latest block
// among the primary and the witnesses that answer.
func (v *Verifier) readHeight(ctx context.Context) (int64, error) {
	st, err := v.rpc.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: status of the primary %s: %w", ErrQueryFailed, v.cfg.Primary, err)
	}
	if st.NodeInfo.Network != v.cfg.ChainID {
		return 0, fmt.Errorf("%w: the primary %s is on chain %q, want %q", ErrBadHeader, v.cfg.Primary, st.NodeInfo.Network, v.cfg.ChainID)
	}
	latest := st.SyncInfo.LatestBlockHeight
	for i, w := range v.witRPC {
		ws, err := w.Status(ctx)
		if err != nil {
			v.log.Debug("witness status", "witness", v.cfg.Witnesses[i], "err", err)
			continue
		}
		if h := ws.SyncInfo.LatestBlockHeight; h > 0 && h < latest {
			latest = h
		}
	}
	if latest < 2 {
		return 0, fmt.Errorf("%w: the chain is at height %d; a proven read needs block 2", ErrQueryFailed, latest)
	}
	return latest - 1, nil
}

// signedHeader fetches the light block at height from the primary and
// checks every signature of its commit, returning the power that signed.
func (v *Verifier) signedHeader(ctx context.Context, height int64) (*types.LightBlock, int64, error) {
	lb, err := v.primary.LightBlock(ctx, height)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: header %d from the primary %s: %w", classifyProvider(err), height, v.cfg.Primary, err)
	}
	if err := lb.ValidatorSet.VerifyCommit(v.cfg.ChainID, lb.Commit.BlockID, height, lb.Commit); err != nil {
		var low types.ErrNotEnoughVotingPowerSigned
		if errors.As(err, &low) {
			return nil, 0, fmt.Errorf("%w: header %d is signed by %d of %d voting power, need more than 2/3", ErrInsufficientPower, height, low.Got, lb.ValidatorSet.TotalVotingPower())
		}
		return nil, 0, fmt.Errorf("%w: header %d's commit: %v", ErrBadHeader, height, err)
	}
	var signed int64
	for i, sig := range lb.Commit.Signatures {
		if sig.BlockIDFlag == types.BlockIDFlagCommit {
			signed += lb.ValidatorSet.Validators[i].VotingPower
		}
	}
	return lb, signed, nil
}

func isExistence(ops *cmtcrypto.ProofOps) bool {
	op, err := singleOp(ops)
	if err != nil {
		return false
	}
	return existenceProof(op.Data)
}

// classify names the check a CometBFT light client error stands for.
func classify(err error) error {
	var (
		expired   cmtlight.ErrOldHeaderExpired
		conflict  cmtlight.ErrConflictingHeaders
		diverge   cmtlight.ErrProposerPrioritiesDiverge
		valset    cmtlight.ErrNewValSetCantBeTrusted
		invalid   cmtlight.ErrInvalidHeader
		lowPower  types.ErrNotEnoughVotingPowerSigned
		badHeader provider.ErrBadLightBlock
	)
	switch {
	case errors.As(err, &expired):
		return ErrTrustExpired
	case errors.Is(err, cmtlight.ErrFailedHeaderCrossReferencing), errors.Is(err, cmtlight.ErrLightClientAttack),
		errors.Is(err, cmtlight.ErrNoWitnesses), errors.As(err, &conflict), errors.As(err, &diverge):
		return ErrWitnessConflict
	case errors.As(err, &lowPower):
		return ErrInsufficientPower
	case errors.As(err, &invalid):
		// ErrInvalidHeader does not unwrap its reason.
		if errors.As(invalid.Reason, &lowPower) {
			return ErrInsufficientPower
		}
		return ErrBadHeader
	case errors.As(err, &badHeader):
		return ErrBadHeader
	case errors.As(err, &valset):
		return ErrUntrusted
	}
	return ErrUntrusted
}

// classifyProvider names a failure to fetch a light block.
func classifyProvider(err error) error {
	var bad provider.ErrBadLightBlock
	if errors.As(err, &bad) {
		return ErrBadHeader
	}
	return ErrQueryFailed
}
