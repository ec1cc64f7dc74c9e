package consensus

import (
	"fmt"

	"github.com/xnode/xnode"
)

// Sentinel errors. Each wraps one of the project's error kinds so that the API
// maps it with errors.Is without knowing this package.
var (
	// ErrGenesisExists is returned when a home already holds a genesis file:
	// a genesis is never replaced silently.
	ErrGenesisExists = fmt.Errorf("consensus: genesis already exists: %w", xnode.ErrConflict)
	// ErrNotStarted is returned by calls that need a running node.
	ErrNotStarted = fmt.Errorf("consensus: node not started: %w", xnode.ErrUnavailable)
	// ErrClosed is returned once Close has been called, including to calls
	// that were waiting for a commit when the node stopped.
	ErrClosed = fmt.Errorf("consensus: node closed: %w", xnode.ErrUnavailable)
	// ErrTimeout is returned when the caller's deadline passes before a
	// transaction is committed. The transaction may still commit later.
	ErrTimeout = fmt.Errorf("consensus: tx not committed in time: %w", xnode.ErrTimeout)
	// ErrTxInCache is returned for a transaction whose exact bytes the mempool
	// has already seen (in flight or recently committed).
	ErrTxInCache = fmt.Errorf("consensus: tx already submitted: %w", xnode.ErrConflict)
	// ErrMempoolFull is returned when the mempool sheds load; retry later.
	ErrMempoolFull = fmt.Errorf("consensus: mempool full: %w", xnode.ErrOverloaded)
	// ErrSignStateLost is returned by New for the only validator of a chain
	// whose priv validator state is gone: with no peer to recover from, it
	// could only start by signing heights it may already have signed.
	ErrSignStateLost = fmt.Errorf("consensus: validator sign state lost: %w", xnode.ErrConflict)
	// ErrChainDataLost is returned by Start for the only validator of a
	// chain whose block store lost blocks it had signed on top of: with no
	// peer to get them back from, it could only stall.
	ErrChainDataLost = fmt.Errorf("consensus: chain data lost: %w", xnode.ErrConflict)
	// ErrTxTooLarge is returned for a transaction over the mempool's size limit.
	ErrTxTooLarge = fmt.Errorf("consensus: tx %w", xnode.ErrTooLarge)
)

// TxError is the application's rejection of a transaction: a non-zero code
// from CheckTx (returned as an error by BroadcastTxSync and BroadcastTxCommit)
// or from FinalizeBlock (see TxResult.Err). It unwraps to
// xnode.ErrInvalidArgument, so an API that only knows the error kinds answers
// 400, while one that branches on the code can use errors.As.
type TxError struct {
	// Code is the application's response code (never 0).
	Code uint32
	// Codespace namespaces Code, as set by the application.
	Codespace string
	// Log is the application's human-readable reason.
	Log string
}

// Error implements error.
func (e *TxError) Error() string {
	if e.Codespace != "" {
		return fmt.Sprintf("consensus: tx rejected: code %d (%s): %s", e.Code, e.Codespace, e.Log)
	}
	return fmt.Sprintf("consensus: tx rejected: code %d: %s", e.Code, e.Log)
}

// Unwrap reports the error kind, xnode.ErrInvalidArgument.
func (e *TxError) Unwrap() error { return xnode.ErrInvalidArgument }
