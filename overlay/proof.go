package overlay

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
)

// RecordProof reads namespace/key with a proof (api.RecordProver), at the
// latest height whose app hash is in a header this node stores, so that a
// client can verify it at once (a record committed at height h shows once
// block h+1 is stored, which CometBFT makes at once after a block that
// changed the app hash). The record is decoded from the proven
// value itself, so record and proof are of one height. An absent record
// returns the proof of absence with an error wrapping xnode.ErrNotFound.
func (n *Node) RecordProof(ctx context.Context, namespace, key string) (api.Record, api.Proof, error) {
	res, err := n.chain.QueryProof(ctx, abci.QueryRecord, []byte(namespace+"/"+key), 0)
	if err != nil {
		return api.Record{}, api.Proof{}, err
	}
	if res.Code != 0 {
		return api.Record{}, api.Proof{}, fmt.Errorf("%w: record %s/%s with proof: %s", txKind(res.Code), namespace, key, res.Log)
	}
	proof := api.Proof{Height: res.Height, Key: res.Key, Value: res.Value, Ops: []api.ProofOp{}}
	if res.ProofOps != nil {
		for _, op := range res.ProofOps.Ops {
			proof.Ops = append(proof.Ops, api.ProofOp{Type: op.Type, Key: op.Key, Data: op.Data})
		}
	}
	if res.Value == nil {
		return api.Record{}, proof, fmt.Errorf("%w: no record %s/%s at height %d (the proof shows its absence)", xnode.ErrNotFound, namespace, key, res.Height)
	}
	r, err := abci.DecodeRecord(res.Value)
	if err != nil {
		return api.Record{}, api.Proof{}, fmt.Errorf("overlay: record %s/%s: %w", namespace, key, err)
	}
	out := api.Record{
		Namespace: r.Namespace, Key: r.Key, CID: r.CID, Size: r.Size,
		Version: r.Version, Height: r.Height, Status: r.Status,
		Attestations: make([]api.Attestation, 0, len(r.Attestations)),
	}
	for _, a := range r.Attestations {
		out.Attestations = append(out.Attestations, api.Attestation{
			Validator: hex.EncodeToString(a.Validator), Power: a.Power, OK: a.OK, Reason: a.Reason, Height: a.Height,
		})
	}
	return out, proof, nil
}

var _ api.RecordProver = (*Node)(nil)
