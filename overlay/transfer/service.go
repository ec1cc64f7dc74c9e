package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// ProtocolID is the libp2p protocol of block transfer.
const ProtocolID = protocol.ID("/xnode/block/1.0.0")

// ServiceName is the resource manager service that owns this protocol's
// streams on both sides.
const ServiceName = "xnode.block"

// reservePriority is the resource manager priority of frame memory: high,
// because block data is the node's purpose, but below Always so that the
// muxer and control protocols keep some headroom.
const reservePriority = network.ReservationPriorityHigh

// LocalStore is what the protocol needs from the node's block store.
// storage.Store satisfies it.
type LocalStore interface {
	// PutHashed stores b, whose bytes the protocol has just checked against
	// its CID, durably; tentative marks a copy that is not yet confirmed by
	// placement. (storage.Store.PutHashed: the store does not hash again.)
	// It must not keep b.Data once it returns: the buffer is reused.
	PutHashed(ctx context.Context, b block.Block, tentative bool) error
	// Get returns a verified block; not found wraps xnode.ErrNotFound.
	Get(ctx context.Context, c cid.Cid) (block.Block, error)
	// HasMany reports, for each CID, whether the store holds it.
	HasMany(ctx context.Context, cs []cid.Cid) ([]bool, error)
	// Confirm turns tentative copies into confirmed ones; a CID not held
	// fails it with xnode.ErrNotFound.
	Confirm(ctx context.Context, cs []cid.Cid) error
	// Abandon deletes the copies of cs that are still tentative, and
	// returns how many it deleted.
	Abandon(ctx context.Context, cs []cid.Cid) (int, error)
}

// Errors the client side returns. Each wraps one of the root error kinds.
var (
	// ErrNotFound means the remote does not hold the block.
	ErrNotFound = fmt.Errorf("transfer: block %w", xnode.ErrNotFound)
	// ErrOverloaded means the remote (or this node's resource budget) shed
	// the request; retry later or ask another owner.
	ErrOverloaded = fmt.Errorf("transfer: %w", xnode.ErrOverloaded)
	// ErrIntegrity means block bytes did not match their CID: a GET answer
	// from the remote, or a PUT the remote verified and refused.
	ErrIntegrity = fmt.Errorf("transfer: %w", xnode.ErrIntegrity)
	// ErrRejected means the remote answered BAD_REQUEST.
	ErrRejected = fmt.Errorf("transfer: remote refused request: %w", xnode.ErrInvalidArgument)
	// ErrRemote means the remote failed (INTERNAL answer, malformed answer,
	// reset or unreachable); another owner may do better.
	ErrRemote = fmt.Errorf("transfer: remote failed: %w", xnode.ErrUnavailable)
	// ErrTimeout means the request did not finish within RequestTimeout or
	// the caller's deadline.
	ErrTimeout = fmt.Errorf("transfer: %w", xnode.ErrTimeout)
	// ErrClosed is returned by calls on a closed Service.
	ErrClosed = errors.New("transfer: service closed")
)

// Service serves and sends block transfer requests over one libp2p host.
// All its methods are safe for concurrent use.
type Service struct {
	cfg   Config
	host  host.Host
	store LocalStore
	log   *slog.Logger
	m     *metrics

	inbound  *peerLimiter
	outbound *peerLimiter
	frames   framePool // request buffers the server reads into

	// ctx ends when Close starts; it cuts in-flight requests short.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	closed   bool
	handlers sync.WaitGroup // in-flight stream handlers and client calls
}

// New builds a Service. It starts nothing: no handler is registered until
// Start. reg may be nil, in which case metrics are kept but not exported.
func New(cfg Config, h host.Host, store LocalStore, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil || store == nil {
		return nil, fmt.Errorf("transfer: %w: nil host or store", xnode.ErrInvalidArgument)
	}
	if log == nil {
		return nil, fmt.Errorf("transfer: %w: nil logger", xnode.ErrInvalidArgument)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	// The service's lifetime is its own, from New to Close; it is not tied
	// to any caller's context.
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg:      cfg,
		host:     h,
		store:    store,
		log:      log.With("component", "transfer"),
		m:        m,
		inbound:  newPeerLimiter(cfg.MaxInboundPerPeer),
		outbound: newPeerLimiter(cfg.MaxOutboundPerPeer),
		ctx:      ctx,
		cancel:   cancel,
	}, nil
}

// Start registers the stream handler. Calling it twice, or after Close, is
// an error.
func (s *Service) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return ErrClosed
	case s.started:
		return errors.New("transfer: already started")
	}
	s.started = true
	s.host.SetStreamHandler(ProtocolID, s.handle)
	return nil
}

// Close removes the stream handler, resets in-flight streams and waits for
// their handlers and client calls to return. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	started := s.started
	s.mu.Unlock()

	if started {
		s.host.RemoveStreamHandler(ProtocolID)
	}
	s.cancel()
	s.handlers.Wait()
	return nil
}

// enter registers one in-flight handler or call; false once closed.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.handlers.Add(1)
	return true
}

func (s *Service) leave() { s.handlers.Done() }
