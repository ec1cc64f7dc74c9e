package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cs "github.com/cometbft/cometbft/consensus"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	nm "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/store"
	"github.com/cometbft/cometbft/types"
)

// recoverHint is where the errors below send the operator.
const recoverHint = `see "Recovering a lost node" in the README`

// loadPrivValidator loads the priv validator without CometBFT's LoadFilePV,
// which exits the process on a missing or corrupt file. A missing state file
// with the key present is not an error: the validator lost its record of
// what it signed (its data directory was wiped) and must recover it;
// recovering is then true and the returned FilePV's state is empty, in
// memory only, until the recovery floor is written.
func loadPrivValidator(c *cmtcfg.Config) (pv *privval.FilePV, recovering bool, err error) {
	keyPath, statePath := c.PrivValidatorKeyFile(), c.PrivValidatorStateFile()
	keyJSON, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("validator key %s is missing: restore it from a backup of this node's keys (the operator key); without it the node can neither sign nor be recreated with the same identity (%s)", keyPath, recoverHint)
	}
	if err != nil {
		return nil, false, fmt.Errorf("validator key %s: %w", keyPath, err)
	}
	var key privval.FilePVKey
	if err := cmtjson.Unmarshal(keyJSON, &key); err != nil {
		return nil, false, fmt.Errorf("validator key %s is unreadable: %v: restore it from a backup of this node's keys (%s)", keyPath, err, recoverHint)
	}
	if key.PrivKey == nil {
		return nil, false, fmt.Errorf("validator key %s has no private key: restore it from a backup of this node's keys (%s)", keyPath, recoverHint)
	}
	// NewFilePV sets the (unexported) file paths; the state is copied in
	// field by field to keep them.
	pv = privval.NewFilePV(key.PrivKey, keyPath, statePath)
	stateJSON, err := os.ReadFile(statePath)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
			return nil, false, fmt.Errorf("validator state directory: %w", err)
		}
		return pv, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("validator state %s: %w", statePath, err)
	}
	var state privval.FilePVLastSignState
	if err := cmtjson.Unmarshal(stateJSON, &state); err != nil {
		return nil, false, fmt.Errorf("validator state %s is unreadable: %v: restore it from a backup, or remove it and the node will recover it from its peers, signing again only above the height the network has reached (%s)", statePath, err, recoverHint)
	}
	pv.LastSignState.Height = state.Height
	pv.LastSignState.Round = state.Round
	pv.LastSignState.Step = state.Step
	pv.LastSignState.Signature = state.Signature
	pv.LastSignState.SignBytes = state.SignBytes
	return pv, false, nil
}

// soleValidator reports whether the genesis makes addr the only validator.
// Such a validator cannot recover: CometBFT decides whether to block-sync
// from the validator set it starts with (the genesis', for a wiped node) and
// never does when that set is the node alone; it produces blocks alone, from
// where its data ends, even if other validators have joined since.
func soleValidator(genesis *types.GenesisDoc, addr types.Address) bool {
	return len(genesis.Validators) == 1 && bytes.Equal(genesis.Validators[0].PubKey.Address(), addr)
}

// lostSoleValidatorError is the refusal to start the only validator of a
// chain whose sign state is gone.
func lostSoleValidatorError(c *cmtcfg.Config, chainID string) error {
	return fmt.Errorf("%w: %s is missing and the genesis of chain %q names this node its only validator, so CometBFT would not catch it up from peers: "+
		"started, it would sign a second chain over the heights it already signed. "+
		"Restore %s (with the validator state in it) and the node's data from a backup, or start a new chain in a new home (%s)",
		ErrSignStateLost, c.PrivValidatorStateFile(), chainID, filepath.Dir(c.PrivValidatorStateFile()), recoverHint)
}

// checkSoleValidatorChain refuses to start the only validator of a chain
// whose block store ends before the height its sign state records: its
// chain data was lost but the state file kept. CometBFT would start over
// from the genesis, FilePV would refuse every height up to the one it
// signed, and the chain would stall with nothing but refused votes in the
// log.
func checkSoleValidatorChain(c *cmtcfg.Config, genesis *types.GenesisDoc, pv *privval.FilePV) error {
	signed := pv.LastSignState.Height
	if signed <= 1 || !soleValidator(genesis, pv.GetAddress()) {
		return nil
	}
	db, err := cmtcfg.DefaultDBProvider(&cmtcfg.DBContext{ID: "blockstore", Config: c})
	if err != nil {
		return fmt.Errorf("consensus: open block store: %w", err)
	}
	bs := store.NewBlockStore(db)
	stored := bs.Height()
	if err := bs.Close(); err != nil {
		return fmt.Errorf("consensus: close block store: %w", err)
	}
	// Signing at height h needs block h-1: it was stored, unless lost.
	if stored >= signed-1 {
		return nil
	}
	return fmt.Errorf("%w: %s records a signature at height %d but the block store in %s ends at height %d, "+
		"and the genesis of chain %q names this node its only validator: its chain data is gone and no peer can give it back. "+
		"Restore %s and the node's data from a backup, or start a new chain in a new home (%s)",
		ErrChainDataLost, c.PrivValidatorStateFile(), signed, c.DBDir(), stored, genesis.ChainID, c.DBDir(), recoverHint)
}

// recoverer decides the floor of a validator that lost its sign state, once
// the node has caught up with its peers, and writes it. It polls CometBFT
// (which publishes no event when block sync ends) and feeds recoveryFloor.
type recoverer struct {
	signer   *guardedSigner
	cmt      *nm.Node
	file     string // the priv validator state file, for the log
	log      *slog.Logger
	interval time.Duration
	stop     chan struct{}
	done     chan struct{}
}

// recoveryPoll is how often a recovering node looks at its peers' heights.
const recoveryPoll = 100 * time.Millisecond

// recoveryReport is how often a node still waiting to recover says so.
const recoveryReport = 30 * time.Second

func startRecoverer(signer *guardedSigner, cmt *nm.Node, file string, log *slog.Logger) *recoverer {
	r := &recoverer{signer: signer, cmt: cmt, file: file, log: log, interval: recoveryPoll,
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *recoverer) run() {
	defer close(r.done)
	t := time.NewTicker(r.interval)
	defer t.Stop()
	lastReport := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		v := r.view()
		floor, ok := recoveryFloor(v)
		if !ok {
			if time.Since(lastReport) >= recoveryReport {
				lastReport = time.Now()
				r.log.Warn("validator still recovering its sign state: not signing until caught up with peers",
					"syncing", v.Syncing, "height", v.StoreHeight, "peers", len(v.PeerHeights))
			}
			continue
		}
		if err := r.signer.setFloor(floor); err != nil {
			r.log.Error("validator cannot write its recovered sign state; still not signing", "file", r.file, "err", err)
			continue
		}
		r.log.Info("validator recovered its sign state: signing again above the network's height",
			"floor", floor, "height", v.StoreHeight, "file", r.file)
		return
	}
}

// view reads what recoveryFloor needs from the running CometBFT node.
func (r *recoverer) view() recoveryView {
	v := recoveryView{
		Syncing:     r.cmt.ConsensusReactor().WaitSync(),
		StoreHeight: r.cmt.BlockStore().Height(),
	}
	for _, p := range r.cmt.Switch().Peers().List() {
		if ps, ok := p.Get(types.PeerStateKey).(*cs.PeerState); ok {
			v.PeerHeights = append(v.PeerHeights, ps.GetHeight())
		}
	}
	return v
}

// close stops the recoverer and waits for it.
func (r *recoverer) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}
