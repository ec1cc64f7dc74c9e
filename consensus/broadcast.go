package consensus

import (
	"context"
	"errors"
	"fmt"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	mempl "github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/types"
	"github.com/xnode/xnode"
)

// TxResult is a transaction committed in a block.
type TxResult struct {
	// Height is the block that holds the transaction.
	Height int64
	// Hash is the transaction hash (SHA-256 of its bytes), as CometBFT
	// names transactions.
	Hash []byte
	// Code is FinalizeBlock's result for the transaction; 0 means the
	// application applied it. A non-zero code is a committed failure: the
	// transaction is in the block but changed nothing (see Err).
	Code uint32
	// Codespace namespaces Code.
	Codespace string
	// Log is the application's message.
	Log string
	// Data is the application's result bytes.
	Data []byte
	// Events are the application's events for the transaction.
	Events []abcitypes.Event
}

// Err returns a *TxError when the application failed the committed
// transaction (Code != 0), else nil.
func (r TxResult) Err() error {
	if r.Code == abcitypes.CodeTypeOK {
		return nil
	}
	return &TxError{Code: r.Code, Codespace: r.Codespace, Log: r.Log}
}

// BroadcastTxSync submits tx to the mempool (CheckTx) and returns its hash
// once the application accepted it, without waiting for a block. A rejection
// by the application is a *TxError; a duplicate is ErrTxInCache, a full
// mempool ErrMempoolFull, an oversize tx ErrTxTooLarge.
func (n *Node) BroadcastTxSync(ctx context.Context, tx []byte) ([]byte, error) {
	l, err := n.running()
	if err != nil {
		return nil, err
	}
	if err := checkTx(ctx, l, tx); err != nil {
		return nil, err
	}
	return types.Tx(tx).Hash(), nil
}

// BroadcastTxCommit submits tx and waits until it is committed in a block,
// returning its result. It fails like BroadcastTxSync before the mempool
// accepts tx; afterwards, when ctx's deadline passes first, with an error
// wrapping ErrTimeout (xnode.ErrTimeout): the transaction may still commit.
// A committed transaction the application failed is not an error here: check
// TxResult.Code or TxResult.Err.
//
// Calls scale to many concurrent callers: they share two event-bus
// subscriptions (see eventRouter) and each costs a map entry while it waits.
func (n *Node) BroadcastTxCommit(ctx context.Context, tx []byte) (TxResult, error) {
	l, err := n.running()
	if err != nil {
		return TxResult{}, err
	}
	hash := types.Tx(tx).Hash()
	// Wait before submitting: the block may commit before CheckTx returns.
	committed, cancel, err := l.router.watchTx(hash)
	if err != nil {
		return TxResult{}, err
	}
	defer cancel()
	if err := checkTx(ctx, l, tx); err != nil {
		return TxResult{}, err
	}
	select {
	case ev := <-committed:
		res := ev.Result
		return TxResult{
			Height:    ev.Height,
			Hash:      hash,
			Code:      res.Code,
			Codespace: res.Codespace,
			Log:       res.Log,
			Data:      res.Data,
			Events:    res.Events,
		}, nil
	case <-ctx.Done():
		return TxResult{}, ctxError(ctx, fmt.Sprintf("tx %X", hash))
	case <-l.router.done:
		return TxResult{}, ErrClosed
	}
}

// checkTx runs tx through the mempool and the application's CheckTx.
func checkTx(ctx context.Context, l *live, tx []byte) error {
	if len(tx) == 0 {
		return fmt.Errorf("consensus: empty tx: %w", xnode.ErrInvalidArgument)
	}
	resCh := make(chan *abcitypes.ResponseCheckTx, 1)
	err := l.cmt.Mempool().CheckTx(tx, func(res *abcitypes.ResponseCheckTx) {
		select {
		case resCh <- res:
		default:
		}
	}, mempl.TxInfo{})
	if err != nil {
		return mempoolError(err)
	}
	select {
	case res := <-resCh:
		if res.Code != abcitypes.CodeTypeOK {
			return &TxError{Code: res.Code, Codespace: res.Codespace, Log: res.Log}
		}
		return nil
	case <-ctx.Done():
		return ctxError(ctx, "check tx")
	}
}

// mempoolError maps the mempool's refusals onto the package's sentinels.
func mempoolError(err error) error {
	var full mempl.ErrMempoolIsFull
	var large mempl.ErrTxTooLarge
	switch {
	case errors.Is(err, mempl.ErrTxInCache):
		return ErrTxInCache
	case errors.As(err, &full), errors.Is(err, mempl.ErrRecheckFull):
		return fmt.Errorf("%w: %v", ErrMempoolFull, err)
	case errors.As(err, &large):
		return fmt.Errorf("%w: %v", ErrTxTooLarge, err)
	case mempl.IsPreCheckError(err):
		return fmt.Errorf("consensus: tx refused: %v: %w", err, xnode.ErrInvalidArgument)
	}
	return fmt.Errorf("consensus: check tx: %w", err)
}

// ctxError turns a finished context into ErrTimeout (deadline) or the
// cancellation itself.
func ctxError(ctx context.Context, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %s: %w", ErrTimeout, what, ctx.Err())
	}
	return fmt.Errorf("consensus: %s: %w", what, ctx.Err())
}

// NewBlocks returns a channel that receives the height of each committed
// block, until ctx ends or the node closes (then it is closed). Heights are
// monotone, so a slow consumer loses nothing it needs: an unread height is
// replaced by the newer one (the channel holds at most one), and the consumer
// looks at everything up to the height it receives.
func (n *Node) NewBlocks(ctx context.Context) (<-chan int64, error) {
	l, err := n.running()
	if err != nil {
		return nil, err
	}
	return l.router.watchBlocks(ctx)
}
