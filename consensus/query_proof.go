package consensus

import (
	"context"
	"fmt"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/xnode/xnode"
)

// QueryProof asks the application for path/data with a proof (ABCI Query
// with Prove set), reading the state at height. Height 0 means the latest
// state whose app hash is already in a stored header: the state after
// block L-1 when this node's last block is L, since the app hash of the
// state after block H is in header H+1, so that a client can verify the
// answer at once. The answer's Height is the height read. An application
// error code is in the response, not the error; before block 2 there is
// no such height and the error wraps xnode.ErrUnavailable.
func (n *Node) QueryProof(ctx context.Context, path string, data []byte, height int64) (abcitypes.ResponseQuery, error) {
	if height < 0 {
		return abcitypes.ResponseQuery{}, fmt.Errorf("consensus: query %s at height %d: %w", path, height, xnode.ErrInvalidArgument)
	}
	l, err := n.running()
	if err != nil {
		return abcitypes.ResponseQuery{}, err
	}
	if height == 0 {
		last := l.cmt.BlockStore().Height()
		if last < 2 {
			return abcitypes.ResponseQuery{}, fmt.Errorf("consensus: query %s with proof: the chain is at height %d, a proven read needs block 2: %w", path, last, xnode.ErrUnavailable)
		}
		height = last - 1
	}
	res, err := l.cmt.ProxyApp().Query().Query(ctx, &abcitypes.RequestQuery{Path: path, Data: data, Height: height, Prove: true})
	if err != nil {
		return abcitypes.ResponseQuery{}, fmt.Errorf("consensus: query %s at height %d: %w", path, height, err)
	}
	return *res, nil
}
