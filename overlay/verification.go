package overlay

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/verify"
)

// chainAdapter gives the verifier the chain through verify.Chain.
type chainAdapter struct {
	n *Node
	// validating is whether this node was in the validator set when last
	// asked, so that joining and leaving the set are logged once.
	validating *atomic.Bool
}

// Pending lists records this validator has not attested; a node that holds
// no voting power has nothing to attest. The verifier asks on every new
// block, so verification follows the validator set: a node that joins the
// set starts attesting at its next block, one that leaves it (unbonded,
// jailed) stops.
func (a chainAdapter) Pending(ctx context.Context) ([]verify.RecordRef, error) {
	st, err := a.n.chain.Status(ctx)
	if err != nil {
		return nil, err
	}
	if a.validating != nil && a.validating.Swap(st.Validator) != st.Validator {
		if st.Validator {
			a.n.log.Info("in the validator set: verifying new records", "power", st.VotingPower, "height", st.Height)
		} else {
			a.n.log.Info("not in the validator set: verification paused", "height", st.Height)
		}
	}
	if !st.Validator || st.CatchingUp {
		return nil, nil
	}
	pub := a.n.operator.Public().(ed25519.PublicKey)
	res, err := a.n.chain.Query(ctx, "/pending", []byte(hex.EncodeToString(pub)))
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("overlay: pending records: %s", res.Log)
	}
	var recs []abci.Record
	if err := json.Unmarshal(res.Value, &recs); err != nil {
		return nil, fmt.Errorf("overlay: pending records: %w", err)
	}
	out := make([]verify.RecordRef, 0, len(recs))
	for _, r := range recs {
		c, err := cid.Decode(r.CID)
		if err != nil {
			continue // CheckTx admits only valid CIDs; skip rather than wedge the loop
		}
		out = append(out, verify.RecordRef{Namespace: r.Namespace, Key: r.Key, Version: r.Version, CID: c, Size: r.Size})
	}
	return out, nil
}

// Attest submits this validator's verdict and waits for its commit.
func (a chainAdapter) Attest(ctx context.Context, ref verify.RecordRef, ok bool, reason string) error {
	if len(reason) > 256 {
		reason = reason[:256]
	}
	tx, err := abci.NewAttest(a.n.operator, a.n.chainID, a.n.nextNonce(), abci.Attest{Namespace: ref.Namespace, Key: ref.Key, Version: ref.Version, CID: ref.CID.String(), OK: ok, Reason: reason})
	if err != nil {
		return err
	}
	_, err = a.n.broadcast(ctx, tx)
	return err
}

// blockSource gives verify the overlay's fetch path.
type blockSource struct{ bs *blocks }

func (s blockSource) FetchBlock(ctx context.Context, c cid.Cid) (block.Block, error) {
	return s.bs.fetch(ctx, c)
}

// startVerification starts the verifier (it attests only while this node
// is a validator) and the scrubber.
func (n *Node) startVerification(ctx context.Context) error {
	heights, err := n.chain.NewBlocks(ctx)
	if err != nil {
		return err
	}
	vcfg := verify.DefaultConfig()
	vcfg.Interval = n.tune.VerifyInterval
	if n.verif, err = verify.NewVerifier(vcfg, chainAdapter{n: n, validating: new(atomic.Bool)}, blockSource{n.blocks}, heights, n.reg, n.log.With("component", "verifier")); err != nil {
		return err
	}
	if err := n.verif.Start(ctx); err != nil {
		return err
	}
	n.onClose(n.verif.Close)
	if iv := n.cfg.Storage.ScrubInterval.D(); iv > 0 {
		if n.scrub, err = verify.NewScrubber(verify.ScrubConfig{Interval: iv}, n.store, blockSource{n.blocks}, n.reg, n.log.With("component", "scrubber")); err != nil {
			return err
		}
		if err := n.scrub.Start(ctx); err != nil {
			return err
		}
		n.onClose(n.scrub.Close)
	}
	return nil
}
