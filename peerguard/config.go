package peerguard

import (
	"fmt"
	"time"

	"github.com/xnode/xnode"
)

// Config sets when a peer is banned and for how long. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// Strikes is how many violations within Window ban a peer. Default 3.
	Strikes int
	// Window is how far back violations count towards Strikes: a violation
	// older than Window before the latest is forgotten. Default 1 min.
	Window time.Duration
	// Ban is how long a peer's first ban lasts. Each new ban of the same
	// peer (while it is remembered, see Forget) lasts twice the previous
	// one, up to MaxBan. Default 30 s.
	Ban time.Duration
	// MaxBan caps a ban's length. Default 10 min.
	MaxBan time.Duration
	// Forget is the quiet period after which a peer is forgotten: no
	// violation and no ban for this long since its last violation or the
	// end of its last ban, and its strikes and its ban count (the
	// doubling) start again from zero. Default 1 h.
	Forget time.Duration
	// MaxPeers bounds the table of peers with strikes or bans, and
	// separately the table of banned IP addresses, so that a flood of
	// fresh peer ids (a Sybil attack) cannot grow memory. When the table is
	// full, the least recently struck peer that is not banned is evicted;
	// only when every entry is banned does the ban that ends first go.
	// Default 4096.
	MaxPeers int
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Strikes:  3,
		Window:   time.Minute,
		Ban:      30 * time.Second,
		MaxBan:   10 * time.Minute,
		Forget:   time.Hour,
		MaxPeers: 4096,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.Strikes < 1 || c.Strikes > 1000:
		return fmt.Errorf("peerguard: %w: Strikes %d, want 1 to 1000", xnode.ErrInvalidArgument, c.Strikes)
	case c.Window <= 0:
		return fmt.Errorf("peerguard: %w: Window %s, want > 0", xnode.ErrInvalidArgument, c.Window)
	case c.Ban <= 0:
		return fmt.Errorf("peerguard: %w: Ban %s, want > 0", xnode.ErrInvalidArgument, c.Ban)
	case c.MaxBan < c.Ban:
		return fmt.Errorf("peerguard: %w: MaxBan %s below Ban %s", xnode.ErrInvalidArgument, c.MaxBan, c.Ban)
	case c.Forget < c.Window:
		return fmt.Errorf("peerguard: %w: Forget %s below Window %s", xnode.ErrInvalidArgument, c.Forget, c.Window)
	case c.MaxPeers < 1 || c.MaxPeers > 1<<20:
		return fmt.Errorf("peerguard: %w: MaxPeers %d, want 1 to %d", xnode.ErrInvalidArgument, c.MaxPeers, 1<<20)
	}
	return nil
}
