package overlay

import (
	"context"
	"fmt"

	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/consensus"
)

// submit submits tx and reports its fate as api.Node's submitting methods
// do: committed or pending with a nil error; rejected, or committed with a
// failure code, with the fate and an error of the code's kind; else the
// error alone. The same bytes submitted again report the same transaction.
func (n *Node) submit(ctx context.Context, tx []byte) (api.TxResult, error) {
	res, err := n.chain.SubmitTx(ctx, tx)
	if err != nil {
		return api.TxResult{}, err
	}
	out := apiTx(res)
	if res.Status == consensus.TxRejected || (res.Status == consensus.TxCommitted && res.Code != 0) {
		return out, fmt.Errorf("%w: %s", txKind(res.Code), res.Log)
	}
	return out, nil
}

// RelayTx submits a transaction signed elsewhere (api.Node). The chain
// checks it like any other: encoding, signature, nonce, permissions.
func (n *Node) RelayTx(ctx context.Context, tx []byte) (api.TxResult, error) {
	return n.submit(ctx, tx)
}

// Tx reports what this node knows of the transaction with hash (api.Node).
func (n *Node) Tx(ctx context.Context, hash []byte) (api.TxResult, error) {
	res, err := n.chain.Tx(ctx, hash)
	if err != nil {
		return api.TxResult{}, err
	}
	return apiTx(res), nil
}

func apiTx(res consensus.TxResult) api.TxResult {
	return api.TxResult{
		Height:    res.Height,
		Tx:        api.FormatTxHash(res.Hash),
		Status:    res.Status.String(),
		Code:      res.Code,
		Codespace: res.Codespace,
		Log:       res.Log,
	}
}
