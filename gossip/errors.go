package gossip

import (
	"fmt"

	"github.com/xnode/xnode"
)

// Sentinel errors. Each wraps one of the shared error kinds so that
// errors.Is(err, xnode.ErrTooLarge) and friends hold for them.
var (
	// ErrTooLarge is an encoded announcement over the size limit. It is
	// reported before any decoding is attempted.
	ErrTooLarge = fmt.Errorf("gossip: announcement %w", xnode.ErrTooLarge)
	// ErrMalformed is an announcement that does not decode or breaks a field
	// limit (count, length, syntax).
	ErrMalformed = fmt.Errorf("gossip: malformed announcement: %w", xnode.ErrInvalidArgument)
	// ErrPeerMismatch is an announcement naming a peer other than the one
	// that sent (signed) it.
	ErrPeerMismatch = fmt.Errorf("gossip: announcement peer is not its sender: %w", xnode.ErrInvalidArgument)
	// ErrStaleSeq is an announcement whose sequence number is not newer than
	// the one already held for its peer.
	ErrStaleSeq = fmt.Errorf("gossip: stale sequence number: %w", xnode.ErrConflict)
	// ErrClosed is returned by a Service that has been closed (or, for
	// publishing calls, one that was never started).
	ErrClosed = fmt.Errorf("gossip: service not running: %w", xnode.ErrUnavailable)
	// ErrLeft is returned by PublishMeta after Leave: a node that has left
	// announces nothing more.
	ErrLeft = fmt.Errorf("gossip: node has left the membership: %w", xnode.ErrConflict)
)

// configError names the offending field and value, as every config error in
// the project does.
func configError(field string, value any, why string) error {
	return fmt.Errorf("gossip: config: %s=%v: %s: %w", field, value, why, xnode.ErrInvalidArgument)
}
