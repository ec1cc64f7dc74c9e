package gossip

import (
	"strings"
	"time"
)

// Config tunes membership. Build it from DefaultConfig (or LocalTestConfig),
// set Network, and check it with Validate; New validates it again.
//
// Detection window. The detector models heartbeat inter-arrival times as a
// normal distribution with mean = observed mean + AcceptablePause and
// standard deviation = max(observed, MinStdDev). With the defaults (1 s
// heartbeats, MinStdDev 500 ms, AcceptablePause 2 s) a member that falls
// silent after steady heartbeats reaches SuspectPhi 5 about 5.0 s after its
// last heartbeat and FailPhi 10 about 5.9 s after it; adding one TickInterval
// of evaluation lag a killed node is marked failed about 6.2 s after its
// last heartbeat. Jittery links raise the observed deviation and so lengthen
// the window: phi adapts rather than false-positives. SuspectAfter,
// FailAfter and DetectionWindow compute these figures for any Config.
type Config struct {
	// Network is the chain id. Topics are /xnode/<Network>/members/1 and
	// /xnode/<Network>/meta/1, so nodes of different networks never mix.
	// Required; no slashes or whitespace.
	Network string

	// HeartbeatInterval is how often a node publishes its announcement.
	// It is also the first estimate of the inter-arrival time of a peer
	// the detector has not yet measured. Default 1 s.
	HeartbeatInterval time.Duration

	// TickInterval is how often the failure detector is evaluated over the
	// table. It bounds the lag between phi crossing a threshold and the
	// event. Default HeartbeatInterval/4.
	TickInterval time.Duration

	// SuspectPhi is the phi at or above which an alive member becomes
	// suspect. Default 5 (a false suspicion chance of about 1e-5 per check
	// under the model).
	SuspectPhi float64

	// FailPhi is the phi at or above which a member becomes failed. Must be
	// above SuspectPhi. Default 10.
	FailPhi float64

	// WindowSize is how many inter-arrival samples the detector keeps per
	// peer. Default 100.
	WindowSize int

	// MinStdDev floors the standard deviation of the inter-arrival model so
	// that a perfectly regular peer is not failed by a small delay.
	// Default HeartbeatInterval/2.
	MinStdDev time.Duration

	// AcceptablePause is added to the mean inter-arrival time: a silence
	// this long beyond the usual is tolerated before phi grows. Default
	// 2×HeartbeatInterval.
	AcceptablePause time.Duration

	// Retention is how long failed and left members stay in the table
	// (so that the API can show them and late messages stay stale) before
	// they are removed. Default 10 min.
	Retention time.Duration

	// MaxMessageSize is the largest encoded announcement accepted, in
	// bytes. It is checked before decoding. Default 8 KiB.
	MaxMessageSize int

	// MaxRPCSize is the largest GossipSub RPC frame NewPubSub accepts, in
	// bytes. It must leave room for MaxMessageSize plus signature, key and
	// topic, so an oversized announcement reaches the validator (which
	// rejects and counts it) instead of breaking the stream. Default 256 KiB.
	MaxRPCSize int

	// ReorderWindow separates a late message from a replay. Sequence numbers
	// are the sender's clock in Unix nanoseconds (kept strictly increasing),
	// so an announcement up to ReorderWindow older than the newest seen from
	// its peer is merely out of order (another path, another topic, a slow
	// relay) and is ignored without penalty; an older one, or an exact
	// repeat, is a replay and is rejected. Honest relays hold messages only
	// a few GossipSub heartbeats, so the window can be generous.
	// Default 1 min.
	ReorderWindow time.Duration

	// EventBuffer is the channel buffer of each Subscribe subscriber.
	// Default 256.
	EventBuffer int

	// LeaveGrace is how long Leave keeps announcing the leave (once at
	// once, then every half heartbeat) before it returns, so that it
	// reaches every member even if one message is lost and before the
	// caller closes the host. Default 2 s.
	LeaveGrace time.Duration
}

// DefaultConfig returns the production settings: 1 s heartbeats, a killed
// node marked failed after about 6 s. Network is left empty and must be set.
func DefaultConfig() Config {
	hb := time.Second
	return Config{
		HeartbeatInterval: hb,
		TickInterval:      hb / 4,
		SuspectPhi:        5,
		FailPhi:           10,
		WindowSize:        100,
		MinStdDev:         hb / 2,
		AcceptablePause:   2 * hb,
		Retention:         10 * time.Minute,
		MaxMessageSize:    8 << 10,
		MaxRPCSize:        256 << 10,
		ReorderWindow:     time.Minute,
		EventBuffer:       256,
		LeaveGrace:        2 * hb,
	}
}

// LocalTestConfig returns DefaultConfig with 100 ms heartbeats for
// in-process tests. The detector is more tolerant relative to the heartbeat
// (MinStdDev two heartbeats, AcceptablePause six) because many nodes share
// few, busy cores in a test and scheduling delays of several heartbeats are
// common; a silent member is failed about 1.9 s after its last heartbeat.
// For many nodes in one process, Scaled to a slower heartbeat keeps the
// signature-checking load down.
func LocalTestConfig() Config {
	c := DefaultConfig().Scaled(100 * time.Millisecond)
	c.MinStdDev = 2 * c.HeartbeatInterval
	c.AcceptablePause = 6 * c.HeartbeatInterval
	c.ReorderWindow = 10 * time.Second
	return c
}

// Scaled returns c with HeartbeatInterval set to hb and the durations
// measured in heartbeats (TickInterval, MinStdDev, AcceptablePause,
// LeaveGrace) scaled by the same factor, so detection takes the same number
// of heartbeat rounds. A non-positive hb or HeartbeatInterval returns c
// unchanged.
func (c Config) Scaled(hb time.Duration) Config {
	if hb <= 0 || c.HeartbeatInterval <= 0 {
		return c
	}
	scale := func(d time.Duration) time.Duration {
		return time.Duration(float64(d) * float64(hb) / float64(c.HeartbeatInterval))
	}
	c.TickInterval = scale(c.TickInterval)
	c.MinStdDev = scale(c.MinStdDev)
	c.AcceptablePause = scale(c.AcceptablePause)
	c.LeaveGrace = scale(c.LeaveGrace)
	c.HeartbeatInterval = hb
	return c
}

// Validate reports the first field that is out of range, naming it and its
// value.
func (c Config) Validate() error {
	switch {
	case c.Network == "":
		return configError("Network", `""`, "required (the chain id)")
	case strings.ContainsAny(c.Network, "/ \t\r\n"):
		return configError("Network", c.Network, "must not contain slashes or whitespace")
	case c.HeartbeatInterval <= 0:
		return configError("HeartbeatInterval", c.HeartbeatInterval, "must be positive")
	case c.TickInterval <= 0:
		return configError("TickInterval", c.TickInterval, "must be positive")
	case !(c.SuspectPhi > 0):
		return configError("SuspectPhi", c.SuspectPhi, "must be positive")
	case !(c.FailPhi > c.SuspectPhi):
		return configError("FailPhi", c.FailPhi, "must be greater than SuspectPhi")
	case c.FailPhi > 300:
		return configError("FailPhi", c.FailPhi, "must be at most 300")
	case c.WindowSize < 2:
		return configError("WindowSize", c.WindowSize, "must be at least 2")
	case c.MinStdDev <= 0:
		return configError("MinStdDev", c.MinStdDev, "must be positive")
	case c.AcceptablePause < 0:
		return configError("AcceptablePause", c.AcceptablePause, "must not be negative")
	case c.Retention < 0:
		return configError("Retention", c.Retention, "must not be negative")
	case c.MaxMessageSize < 512 || c.MaxMessageSize > 1<<20:
		return configError("MaxMessageSize", c.MaxMessageSize, "must be between 512 and 1048576")
	case c.MaxRPCSize < c.MaxMessageSize+4096:
		return configError("MaxRPCSize", c.MaxRPCSize, "must be at least MaxMessageSize+4096")
	case c.ReorderWindow < 0:
		return configError("ReorderWindow", c.ReorderWindow, "must not be negative")
	case c.EventBuffer < 1:
		return configError("EventBuffer", c.EventBuffer, "must be at least 1")
	case c.LeaveGrace < 0:
		return configError("LeaveGrace", c.LeaveGrace, "must not be negative")
	}
	return nil
}

// SuspectAfter is how long after its last heartbeat a member with perfectly
// regular history reaches SuspectPhi.
func (c Config) SuspectAfter() time.Duration {
	return silenceFor(c.SuspectPhi, c.HeartbeatInterval+c.AcceptablePause, c.MinStdDev)
}

// FailAfter is how long after its last heartbeat a member with perfectly
// regular history reaches FailPhi.
func (c Config) FailAfter() time.Duration {
	return silenceFor(c.FailPhi, c.HeartbeatInterval+c.AcceptablePause, c.MinStdDev)
}

// DetectionWindow bounds, for steady heartbeats, the time from a node's
// death to its being marked failed: FailAfter plus one TickInterval.
func (c Config) DetectionWindow() time.Duration {
	return c.FailAfter() + c.TickInterval
}

// topicMembers and topicMeta name the network's two topics.
func (c Config) topicMembers() string { return "/xnode/" + c.Network + "/members/1" }
func (c Config) topicMeta() string    { return "/xnode/" + c.Network + "/meta/1" }
