package overlay

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/consensus"
)

// txKind maps an application response code onto the error taxonomy, so a
// rejected transaction reaches the user as the right HTTP status.
func txKind(code uint32) error {
	switch code {
	case abci.CodeUnknownNamespace, abci.CodeNotFound:
		return xnode.ErrNotFound
	case abci.CodeConflict, abci.CodeForeignNamespace, abci.CodeDuplicateAttestation, abci.CodeReplay:
		return xnode.ErrConflict
	case abci.CodeTooLarge:
		return xnode.ErrTooLarge
	default:
		return xnode.ErrInvalidArgument
	}
}

// broadcast submits tx and waits for its commit, turning both a CheckTx
// rejection and a failed delivery into a taxonomy error carrying the app's log.
func (n *Node) broadcast(ctx context.Context, tx []byte) (api.TxResult, error) {
	res, err := n.chain.BroadcastTxCommit(ctx, tx)
	var te *consensus.TxError
	switch {
	case errors.As(err, &te):
		return api.TxResult{}, fmt.Errorf("%w: %s", txKind(te.Code), te.Log)
	case err != nil:
		return api.TxResult{}, err
	case res.Code != 0:
		return api.TxResult{Height: res.Height, Tx: hex.EncodeToString(res.Hash)}, fmt.Errorf("%w: %s", txKind(res.Code), res.Log)
	}
	return api.TxResult{Height: res.Height, Tx: hex.EncodeToString(res.Hash)}, nil
}

// RegisterNamespace claims name for this node's operator key.
func (n *Node) RegisterNamespace(ctx context.Context, name string) (api.TxResult, error) {
	tx, err := abci.NewRegisterNamespace(n.operator, n.chainID, n.nextNonce(), name)
	if err != nil {
		return api.TxResult{}, fmt.Errorf("%w: %v", xnode.ErrInvalidArgument, err)
	}
	return n.submit(ctx, tx)
}

// SubmitRecord commits namespace/key → c. The blob must be readable: its
// manifest is fetched first so the record carries the true size.
func (n *Node) SubmitRecord(ctx context.Context, namespace, key string, c cid.Cid) (api.TxResult, error) {
	b, err := n.blocks.OpenBlob(ctx, c)
	if err != nil {
		return api.TxResult{}, fmt.Errorf("overlay: record blob %s: %w", c, err)
	}
	tx, err := abci.NewSubmitRecord(n.operator, n.chainID, n.nextNonce(), namespace, key, c.String(), b.Size())
	if err != nil {
		return api.TxResult{}, fmt.Errorf("%w: %v", xnode.ErrInvalidArgument, err)
	}
	return n.submit(ctx, tx)
}

// Record returns the committed record and its verification state.
func (n *Node) Record(ctx context.Context, namespace, key string) (api.Record, error) {
	res, err := n.chain.Query(ctx, "/record", []byte(namespace+"/"+key))
	if err != nil {
		return api.Record{}, err
	}
	if res.Code != 0 {
		return api.Record{}, fmt.Errorf("%w: record %s/%s: %s", txKind(res.Code), namespace, key, res.Log)
	}
	var r abci.Record
	if err := json.Unmarshal(res.Value, &r); err != nil {
		return api.Record{}, fmt.Errorf("overlay: record %s/%s: %w", namespace, key, err)
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
	return out, nil
}

// nextNonce returns a nonce never used before by this operator key: a
// counter seeded from the wall clock at start, so a restart continues above
// every nonce it used before.
func (n *Node) nextNonce() uint64 { return n.nonce.Add(1) }
