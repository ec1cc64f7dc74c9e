package transfer

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// Config tunes the block transfer protocol. The zero value is not usable;
// start from DefaultConfig.
type Config struct {
	// MaxFrameBytes bounds one frame (request or response) in bytes. A frame
	// header claiming more resets the stream before anything is allocated.
	// It must hold a PUT of the largest chunk. Default block.MaxChunkSize +
	// 64 KiB.
	MaxFrameBytes int
	// MaxInboundPerPeer is how many requests from one remote peer are served
	// at once. A request over the limit is answered BUSY at once (it does
	// not queue), which the client reports as xnode.ErrOverloaded. Default 8.
	MaxInboundPerPeer int
	// MaxOutboundPerPeer is how many requests this node sends to one peer at
	// once. Calls over the limit wait for a slot (bounded by their context).
	// Default 8.
	MaxOutboundPerPeer int
	// MaxBatch is the most CIDs in one HAS or CONFIRM request. The client
	// splits longer lists into several requests. Default 4096.
	MaxBatch int
	// RequestTimeout bounds one request, from opening the stream to reading
	// the answer, on both sides; a caller's shorter context wins. Default 30 s.
	RequestTimeout time.Duration
	// BusyRetries is how many times the client sends a request again when
	// the remote answered BUSY, waiting BusyBackoff before the first retry
	// and twice as long before each next one. A server frees a request's
	// slot only after writing its answer, so a client sending its next
	// request as soon as it read one can find the slot not yet free; the
	// retry keeps that from sending the caller to another owner. Every
	// operation is idempotent. Default 3 and 2 ms (about 14 ms in all);
	// 0 retries reports the first BUSY.
	BusyRetries int
	BusyBackoff time.Duration
	// OnViolation, when set, hears each request stream on which peer p
	// broke the protocol in a way no honest peer of any version does (see
	// "Violations" in the package documentation); reason is one of the
	// Violation constants. The node strikes the peer with it (peerguard)
	// and cuts it off after a few. It is called on the stream's handler
	// goroutine after the stream was answered or reset, so it may close
	// p's connections; it must not block. Default nil: nothing is called.
	OnViolation func(p peer.ID, reason string)
}

// Violations passed to Config.OnViolation.
const (
	// ViolationFrameTooLarge: a request frame header over MaxFrameBytes.
	ViolationFrameTooLarge = "frame_too_large"
	// ViolationBadLength: a length prefix that is not a minimally encoded
	// uvarint, overflows, or is zero.
	ViolationBadLength = "bad_frame_length"
	// ViolationTruncated: the peer closed its side of the stream (a clean
	// end, not a reset) before the frame its header announced was whole.
	ViolationTruncated = "truncated_frame"
)

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		MaxFrameBytes:      block.MaxChunkSize + 64<<10,
		MaxInboundPerPeer:  8,
		MaxOutboundPerPeer: 8,
		MaxBatch:           4096,
		RequestTimeout:     30 * time.Second,
		BusyRetries:        3,
		BusyBackoff:        2 * time.Millisecond,
	}
}

// putOverhead is the most a PUT frame adds to its data: op, flags, the CID
// and its length prefix.
const putOverhead = 2 + 2 + maxCIDBytes

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	switch {
	case c.MaxFrameBytes < block.MaxChunkSize+putOverhead:
		return fmt.Errorf("transfer: %w: MaxFrameBytes %d below %d (largest chunk plus header)",
			xnode.ErrInvalidArgument, c.MaxFrameBytes, block.MaxChunkSize+putOverhead)
	case c.MaxFrameBytes > 64<<20:
		return fmt.Errorf("transfer: %w: MaxFrameBytes %d over 64 MiB", xnode.ErrInvalidArgument, c.MaxFrameBytes)
	case c.MaxInboundPerPeer < 1:
		return fmt.Errorf("transfer: %w: MaxInboundPerPeer %d, want at least 1", xnode.ErrInvalidArgument, c.MaxInboundPerPeer)
	case c.MaxOutboundPerPeer < 1:
		return fmt.Errorf("transfer: %w: MaxOutboundPerPeer %d, want at least 1", xnode.ErrInvalidArgument, c.MaxOutboundPerPeer)
	case c.MaxBatch < 1:
		return fmt.Errorf("transfer: %w: MaxBatch %d, want at least 1", xnode.ErrInvalidArgument, c.MaxBatch)
	case 16+c.MaxBatch*(2+maxCIDBytes) > c.MaxFrameBytes:
		return fmt.Errorf("transfer: %w: MaxBatch %d does not fit in MaxFrameBytes %d",
			xnode.ErrInvalidArgument, c.MaxBatch, c.MaxFrameBytes)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("transfer: %w: RequestTimeout %s, want > 0", xnode.ErrInvalidArgument, c.RequestTimeout)
	case c.BusyRetries < 0 || c.BusyRetries > 10:
		return fmt.Errorf("transfer: %w: BusyRetries %d, want 0 to 10", xnode.ErrInvalidArgument, c.BusyRetries)
	case c.BusyBackoff <= 0 || c.BusyBackoff > time.Second:
		return fmt.Errorf("transfer: %w: BusyBackoff %s, want > 0 and at most 1s", xnode.ErrInvalidArgument, c.BusyBackoff)
	}
	return nil
}

// AddLimits raises the resource manager's per-peer limits for this protocol
// and its service so that MaxInboundPerPeer plus MaxOutboundPerPeer frames of
// MaxFrameBytes fit at the priority this package reserves with. Call it on
// the scaling config before building the resource manager:
//
//	limits := rcmgr.DefaultLimits
//	libp2p.SetDefaultServiceLimits(&limits)
//	transferCfg.AddLimits(&limits)
//	mgr, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
//	... libp2p.New(libp2p.ResourceManager(mgr), ...)
//
// Without it the libp2p defaults (16 MiB per peer for an unknown protocol)
// admit about three 4 MiB frames per peer at once; further requests are
// answered BUSY, which is safe but slow.
func (c Config) AddLimits(l *rcmgr.ScalingLimitConfig) {
	frames := int64(c.MaxInboundPerPeer+c.MaxOutboundPerPeer) * int64(c.MaxFrameBytes)
	// Reservations at reservePriority succeed up to (1+prio)/256 of a limit.
	mem := frames*256/(1+int64(reservePriority)) + 1<<20

	pp := l.ProtocolPeerBaseLimit
	pp.Memory = max(pp.Memory, mem)
	l.AddProtocolPeerLimit(ProtocolID, pp, l.ProtocolPeerLimitIncrease)

	sp := l.ServicePeerBaseLimit
	sp.Memory = max(sp.Memory, mem)
	l.AddServicePeerLimit(ServiceName, sp, l.ServicePeerLimitIncrease)

	svc := l.ServiceBaseLimit
	svc.Memory = max(svc.Memory, 4*mem)
	l.AddServiceLimit(ServiceName, svc, l.ServiceLimitIncrease)

	proto := l.ProtocolBaseLimit
	proto.Memory = max(proto.Memory, 4*mem)
	l.AddProtocolLimit(ProtocolID, proto, l.ProtocolLimitIncrease)
}
