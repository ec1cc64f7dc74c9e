package consensus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	mempl "github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/types"
	"github.com/xnode/xnode"
)

// TxStatus is what a node knows of a transaction's fate.
type TxStatus uint8

// Transaction fates, as SubmitTx and Tx report them.
const (
	// TxUnknown: this node has not seen the transaction, or has forgotten
	// it (it is in no block this node indexed, not in its mempool, and not
	// among the recent rejections it remembers).
	TxUnknown TxStatus = iota
	// TxPending: the mempool accepted the transaction (CheckTx passed) and
	// it is not in a block yet. It may still commit, or drop out of the
	// mempool if a later block makes it invalid.
	TxPending
	// TxCommitted: the transaction is in the block at Height. Code says
	// whether the application applied it (0) or failed it.
	TxCommitted
	// TxRejected: CheckTx on this node refused the transaction (Code, Log);
	// it is in no block and no mempool of this node.
	TxRejected
)

// String is the status as the API and CLI spell it: "unknown", "pending",
// "committed" or "rejected".
func (s TxStatus) String() string {
	switch s {
	case TxPending:
		return "pending"
	case TxCommitted:
		return "committed"
	case TxRejected:
		return "rejected"
	}
	return "unknown"
}

// TxResult is what is known of one transaction: for BroadcastTxCommit, a
// transaction committed in a block; for SubmitTx and Tx, any TxStatus.
type TxResult struct {
	// Status is the transaction's fate. BroadcastTxCommit only returns
	// TxCommitted.
	Status TxStatus
	// Height is the block that holds the transaction (TxCommitted only).
	Height int64
	// Hash is the transaction hash (SHA-256 of its bytes), as CometBFT
	// names transactions.
	Hash []byte
	// Code is FinalizeBlock's result for a committed transaction (0 means
	// the application applied it; a non-zero code is a committed failure:
	// the transaction is in the block but changed nothing, see Err) or
	// CheckTx's for a rejected one.
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
		return committedResult(ev), nil
	case <-ctx.Done():
		return TxResult{}, ctxError(ctx, fmt.Sprintf("tx %X", hash))
	case <-l.router.done:
		return TxResult{}, ErrClosed
	}
}

// committedResult is the TxResult of a committed-transaction event.
func committedResult(ev types.EventDataTx) TxResult {
	res := ev.Result
	return TxResult{
		Status:    TxCommitted,
		Height:    ev.Height,
		Hash:      types.Tx(ev.Tx).Hash(),
		Code:      res.Code,
		Codespace: res.Codespace,
		Log:       res.Log,
		Data:      res.Data,
		Events:    res.Events,
	}
}

// SubmitTx submits tx and waits for its fate, so that a caller never has to
// guess whether a transaction it gave up on may still commit. It is
// idempotent: submitting the same bytes again reports the same transaction
// (committed, still pending, or rejected again) instead of a mempool
// "already in cache" or an application replay error.
//
// The answer, with a nil error, is one of:
//   - TxCommitted, now or earlier (found among the recent commits this node
//     saw, or in CometBFT's tx index when Config.IndexTxs is on), with the
//     height and the application's code;
//   - TxRejected: CheckTx refused it, with the code and log;
//   - TxPending: the mempool holds it but ctx's deadline passed before a
//     block took it. It may still commit: follow it with Tx.
//
// The error is non-nil only when nothing is known of the transaction's
// fate beyond what the error says: an empty tx, a full mempool
// (ErrMempoolFull), a tx over the mempool's size limit (ErrTxTooLarge), a
// cancelled ctx, a node not running.
func (n *Node) SubmitTx(ctx context.Context, tx []byte) (TxResult, error) {
	l, err := n.running()
	if err != nil {
		return TxResult{}, err
	}
	if len(tx) == 0 {
		return TxResult{}, fmt.Errorf("consensus: empty tx: %w", xnode.ErrInvalidArgument)
	}
	hash := types.Tx(tx).Hash()
	// Wait before submitting: the block may commit before CheckTx returns.
	committed, cancel, err := l.router.watchTx(hash)
	if err != nil {
		return TxResult{}, err
	}
	defer cancel()
	if res, ok, err := n.committedTx(ctx, l, hash); err != nil || ok {
		return res, err
	}
	err = checkTx(ctx, l, tx)
	// A remembered rejection answers this call only when another caller's
	// CheckTx of the same bytes may have made it while this one waited
	// (ErrTxInCache); once this CheckTx accepted the bytes, it is stale.
	sharedCheck := false
	var te *TxError
	switch {
	case err == nil:
	case errors.As(err, &te):
		// A transaction that committed long enough ago to have left the
		// mempool's cache comes back as a replay: report the commit.
		if res, ok, lerr := n.committedTx(ctx, l, hash); lerr != nil || ok {
			return res, lerr
		}
		res := TxResult{Status: TxRejected, Hash: hash, Code: te.Code, Codespace: te.Codespace, Log: te.Log}
		l.router.remember(res)
		return res, nil
	case errors.Is(err, ErrTxInCache):
		// The same bytes are in the mempool, in CheckTx for another caller,
		// or committed a moment ago: wait for them as for our own.
		sharedCheck = true
	case errors.Is(err, ErrTimeout):
		// The deadline passed while CheckTx ran: the mempool has the
		// transaction and may still accept it.
		return n.fateAtDeadline(ctx, l, hash, false)
	default:
		return TxResult{}, err
	}
	select {
	case ev := <-committed:
		return committedResult(ev), nil
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return TxResult{}, ctxError(ctx, fmt.Sprintf("tx %X", hash))
		}
		return n.fateAtDeadline(ctx, l, hash, sharedCheck)
	case <-l.router.done:
		return TxResult{}, ErrClosed
	}
}

// fateAtDeadline is SubmitTx's answer once its deadline passed: committed
// if that became known meanwhile (or rejected, when the rejection may be of
// these very bytes), else pending.
func (n *Node) fateAtDeadline(ctx context.Context, l *live, hash []byte, rejection bool) (TxResult, error) {
	if res, ok, err := n.committedTx(context.WithoutCancel(ctx), l, hash); err != nil || ok {
		return res, err
	}
	if res, ok := l.router.recall(hash); ok && rejection && res.Status == TxRejected {
		return res, nil
	}
	return TxResult{Status: TxPending, Hash: hash}, nil
}

// Tx reports what this node knows of the transaction with hash (the
// SHA-256 of its bytes, as CometBFT's /tx?hash= takes it): committed (from
// the recent commits it saw or CometBFT's tx index), pending in its
// mempool, rejected by CheckTx on this node not long ago, or unknown. A hash
// of the wrong length is an error wrapping xnode.ErrInvalidArgument.
//
// A node with Config.IndexTxs off knows only the commits of its last
// RememberedTxs transactions since it started.
func (n *Node) Tx(ctx context.Context, hash []byte) (TxResult, error) {
	if len(hash) != types.TxKeySize {
		return TxResult{}, fmt.Errorf("consensus: tx hash is %d bytes, want %d: %w", len(hash), types.TxKeySize, xnode.ErrInvalidArgument)
	}
	l, err := n.running()
	if err != nil {
		return TxResult{}, err
	}
	if res, ok, err := n.committedTx(ctx, l, hash); err != nil || ok {
		return res, err
	}
	if inMempool(l, hash) {
		return TxResult{Status: TxPending, Hash: hash}, nil
	}
	// The mempool may have committed it between the two looks.
	if res, ok, err := n.committedTx(ctx, l, hash); err != nil || ok {
		return res, err
	}
	if res, ok := l.router.recall(hash); ok {
		return res, nil
	}
	return TxResult{Status: TxUnknown, Hash: hash}, nil
}

// committedTx finds a committed transaction among the recent commits the
// router saw, then in CometBFT's tx index (when it is on).
func (n *Node) committedTx(ctx context.Context, l *live, hash []byte) (TxResult, bool, error) {
	if res, ok := l.router.recall(hash); ok && res.Status == TxCommitted {
		return res, true, nil
	}
	if !n.cfg.IndexTxs {
		return TxResult{}, false, nil
	}
	r, err := l.rpc.Tx(ctx, hash, false)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return TxResult{}, false, nil
		}
		return TxResult{}, false, fmt.Errorf("consensus: tx index: %w", err)
	}
	return TxResult{
		Status:    TxCommitted,
		Height:    r.Height,
		Hash:      hash,
		Code:      r.TxResult.Code,
		Codespace: r.TxResult.Codespace,
		Log:       r.TxResult.Log,
		Data:      r.TxResult.Data,
		Events:    r.TxResult.Events,
	}, true, nil
}

// inMempool reports whether the mempool holds the transaction with hash.
// It walks the whole mempool (at most Config.MempoolSize transactions,
// hashed as they are read), so it serves look-ups, not every submission.
func inMempool(l *live, hash []byte) bool {
	key := types.TxKey(hash)
	for _, tx := range l.cmt.Mempool().ReapMaxTxs(-1) {
		if tx.Key() == key {
			return true
		}
	}
	return false
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
