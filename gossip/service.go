package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
)

// Service runs membership for one node over GossipSub: it heartbeats this
// node's announcement, validates and applies everyone else's, evaluates the
// failure detector, and hands out events. It is a thin adapter around Table;
// all state lives there, under one mutex.
type Service struct {
	cfg  Config
	h    host.Host
	ps   *pubsub.PubSub
	self func() Announcement
	log  *slog.Logger
	m    *metrics

	mu       sync.Mutex // guards everything below
	table    *Table
	highest  map[peer.ID]uint64 // newest seq accepted by the validator, per peer
	lastSeq  uint64
	lastTick time.Time
	meta     *metaOverride
	leaving  bool
	state    lifecycle
	subs     map[*subscriber]struct{}
	topics   []*pubsub.Topic
	psSubs   []*pubsub.Subscription
	vals     []string
	cancel   context.CancelFunc
	members  *pubsub.Topic
	metaT    *pubsub.Topic
	closeErr error

	wg sync.WaitGroup
}

type lifecycle int

const (
	created lifecycle = iota
	running
	closed
)

type metaOverride struct {
	tags     map[string]string
	services []string
}

type subscriber struct {
	ch chan Event
}

// New builds a Service for host h on ps (from NewPubSub). self is called on
// every heartbeat for this node's current announcement; the Service fills
// in PeerID, Seq and Leaving (and Tags and Services once PublishMeta has
// been called), and uses h.Addrs() when self gives no Addrs. self runs
// under the Service's lock: it must be quick and must not call the
// Service. Metrics are registered on reg (nil: not registered); log may be
// nil. New starts nothing.
func New(cfg Config, h host.Host, ps *pubsub.PubSub, self func() Announcement, reg prometheus.Registerer, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil || ps == nil || self == nil {
		return nil, fmt.Errorf("gossip: new: host, pubsub and self are required: %w", ErrMalformed)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("gossip: metrics: %w", err)
	}
	return &Service{
		cfg:     cfg,
		h:       h,
		ps:      ps,
		self:    self,
		log:     log.With("component", "gossip"),
		m:       m,
		table:   NewTable(cfg, h.ID()),
		highest: make(map[peer.ID]uint64),
		subs:    make(map[*subscriber]struct{}),
	}, nil
}

// Start registers the topic validators, joins and subscribes to the members
// and meta topics, publishes a first heartbeat and starts the heartbeat,
// detector and receive loops. The loops run until Close or until ctx is
// cancelled. Start may be called once.
func (s *Service) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != created {
		return fmt.Errorf("gossip: start: %w", ErrClosed)
	}
	defer func() {
		if err != nil {
			_ = s.teardown()
		}
	}()
	for _, name := range []string{s.cfg.topicMembers(), s.cfg.topicMeta()} {
		if err := s.ps.RegisterTopicValidator(name, s.validate, pubsub.WithValidatorInline(true)); err != nil {
			return fmt.Errorf("gossip: register validator %s: %w", name, err)
		}
		s.vals = append(s.vals, name)
		t, err := s.ps.Join(name)
		if err != nil {
			return fmt.Errorf("gossip: join %s: %w", name, err)
		}
		s.topics = append(s.topics, t)
		sub, err := t.Subscribe(pubsub.WithBufferSize(256))
		if err != nil {
			return fmt.Errorf("gossip: subscribe %s: %w", name, err)
		}
		s.psSubs = append(s.psSubs, sub)
	}
	s.members, s.metaT = s.topics[0], s.topics[1]

	loopCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.state = running
	for _, sub := range s.psSubs {
		s.wg.Go(func() { s.receive(loopCtx, sub) })
	}
	s.wg.Go(func() { s.run(loopCtx) })
	s.log.Info("membership started", "network", s.cfg.Network, "heartbeat", s.cfg.HeartbeatInterval,
		"detection_window", s.cfg.DetectionWindow())
	return nil
}

// run publishes heartbeats and ticks the table until ctx ends.
func (s *Service) run(ctx context.Context) {
	hb := time.NewTicker(s.cfg.HeartbeatInterval)
	defer hb.Stop()
	tick := time.NewTicker(s.cfg.TickInterval)
	defer tick.Stop()
	s.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			s.heartbeat(ctx)
		case now := <-tick.C:
			s.tick(now)
		}
	}
}

func (s *Service) heartbeat(ctx context.Context) {
	s.mu.Lock()
	if s.leaving {
		s.mu.Unlock()
		return
	}
	a, err := s.prepareLocked(false)
	s.mu.Unlock()
	if err != nil {
		s.log.Error("heartbeat not sent: own announcement invalid", "err", err)
		return
	}
	if err := s.publish(ctx, s.members, a); err != nil && ctx.Err() == nil {
		s.log.Warn("heartbeat not sent", "err", err)
	}
}

// prepareLocked builds this node's next announcement, applies it to the
// table (this node learns about itself first-hand, never from the network)
// and dispatches the resulting events.
func (s *Service) prepareLocked(leaving bool) (Announcement, error) {
	a := s.self()
	a.PeerID = s.h.ID()
	a.Leaving = leaving
	if len(a.Addrs) == 0 {
		for _, m := range s.h.Addrs() {
			if len(a.Addrs) < MaxAddrs && len(m.Bytes()) <= MaxAddrLen {
				a.Addrs = append(a.Addrs, m)
			}
		}
	}
	if s.meta != nil {
		a.Tags = maps.Clone(s.meta.tags)
		a.Services = slices.Clone(s.meta.services)
	}
	now := time.Now()
	// Seq is the wall clock in nanoseconds, bumped to stay strictly
	// increasing: a restarted node continues above its previous seq, and
	// receivers can tell a late message from a replay (ReorderWindow).
	s.lastSeq = max(s.lastSeq+1, uint64(now.UnixNano()))
	a.Seq = s.lastSeq
	if err := a.Validate(); err != nil {
		return Announcement{}, err
	}
	evs, err := s.table.Apply(a, a.PeerID, now)
	if err != nil {
		return Announcement{}, err
	}
	s.dispatchLocked(evs)
	return a, nil
}

func (s *Service) publish(ctx context.Context, t *pubsub.Topic, a Announcement) error {
	b, err := EncodeAnnouncement(a)
	if err != nil {
		return err
	}
	if len(b) > s.cfg.MaxMessageSize {
		return fmt.Errorf("%w: own announcement is %d bytes, limit %d", ErrTooLarge, len(b), s.cfg.MaxMessageSize)
	}
	if err := t.Publish(ctx, b); err != nil {
		return fmt.Errorf("gossip: publish: %w", err)
	}
	s.m.sent.Inc()
	return nil
}

func (s *Service) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	late := !s.lastTick.IsZero() && now.Sub(s.lastTick) > 2*s.cfg.TickInterval
	s.lastTick = now
	if late {
		// This node itself was paused (GC, CPU starvation, a suspended
		// VM): heartbeats may be waiting in its own queues. Judge peers on
		// the next tick, after the receive loops had a chance to run, not
		// on silence that was ours.
		return
	}
	s.dispatchLocked(s.table.Tick(now))
	for id := range s.highest {
		if s.table.Seq(id) == 0 {
			delete(s.highest, id) // removed after Retention, or never applied
		}
	}
	counts := s.table.Counts()
	for st, n := range counts {
		s.m.members.WithLabelValues(State(st).String()).Set(float64(n))
	}
}

// receive applies announcements delivered (already validated) on one topic.
func (s *Service) receive(ctx context.Context, sub *pubsub.Subscription) {
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		from := msg.GetFrom()
		if from == s.h.ID() {
			continue // applied when it was prepared
		}
		a, ok := msg.ValidatorData.(Announcement)
		if !ok {
			continue // cannot happen: the validator sets it on every accept
		}
		s.mu.Lock()
		evs, err := s.table.Apply(a, from, time.Now())
		if err == nil {
			s.dispatchLocked(evs)
		}
		s.mu.Unlock()
		if err != nil && !errors.Is(err, ErrStaleSeq) {
			s.log.Warn("announcement not applied", "peer", from, "err", err)
		}
	}
}

// validate is the topic validator. It rejects (and so penalises the
// forwarding peer) payloads that are too large or do not decode, that name
// a peer other than their signer, or that replay an old seq; it ignores
// slightly late ones. Pubsub has already checked the signature and dropped
// copies of our own messages echoed back, so a message from ourselves here
// is a local publish and is accepted.
func (s *Service) validate(_ context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	signer := msg.GetFrom()
	a, err := DecodeAnnouncement(msg.Data, s.cfg.MaxMessageSize)
	if err != nil {
		reason := reasonDecode
		if errors.Is(err, ErrTooLarge) {
			reason = reasonTooLarge
		}
		return s.reject(reason, signer, err)
	}
	if a.PeerID != signer {
		return s.reject(reasonPeerMismatch, signer, fmt.Errorf("%w: names %s", ErrPeerMismatch, a.PeerID))
	}
	if signer == s.h.ID() {
		msg.ValidatorData = a
		return pubsub.ValidationAccept
	}

	s.mu.Lock()
	newest := max(s.highest[signer], s.table.Seq(signer))
	var verdict pubsub.ValidationResult
	switch {
	case a.Seq > newest:
		s.highest[signer] = a.Seq
		verdict = pubsub.ValidationAccept
	case a.Seq == newest || newest-a.Seq > uint64(s.cfg.ReorderWindow.Nanoseconds()):
		verdict = pubsub.ValidationReject
	default:
		verdict = pubsub.ValidationIgnore
	}
	s.mu.Unlock()

	switch verdict {
	case pubsub.ValidationReject:
		return s.reject(reasonStaleSeq, signer, fmt.Errorf("%w: seq %d, newest %d", ErrStaleSeq, a.Seq, newest))
	case pubsub.ValidationIgnore:
		s.m.ignored.WithLabelValues(reasonReordered).Inc()
		return verdict
	}
	msg.ValidatorData = a
	return verdict
}

func (s *Service) reject(reason string, signer peer.ID, err error) pubsub.ValidationResult {
	s.m.rejected.WithLabelValues(reason).Inc()
	s.log.Debug("gossip message rejected", "signer", signer, "reason", reason, "err", err)
	return pubsub.ValidationReject
}

// Subscribe returns a channel of membership events and a function that
// unsubscribes (and closes the channel). Each subscriber has its own buffer
// of Config.EventBuffer events; the Service never blocks on a subscriber:
// when a buffer is full the event is dropped for that subscriber and
// counted in xnode_gossip_events_dropped_total. Consumers must therefore
// treat events as hints and reconcile against Members() (which is always
// complete), as overlay repair does. Events arrive in the order the table
// produced them. The channel is closed by the returned function or by Close.
func (s *Service) Subscribe() (<-chan Event, func()) {
	sub := &subscriber{ch: make(chan Event, s.cfg.EventBuffer)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == closed {
		close(sub.ch)
		return sub.ch, func() {}
	}
	s.subs[sub] = struct{}{}
	return sub.ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[sub]; ok {
			delete(s.subs, sub)
			close(sub.ch)
		}
	}
}

func (s *Service) dispatchLocked(evs []Event) {
	for _, ev := range evs {
		// Joins, suspicions, failures and leaves of others are what an
		// operator follows a network by; updates come with every metadata
		// change, and this node's own events say nothing new.
		level := slog.LevelInfo
		if ev.Kind == EventUpdated || ev.Member.PeerID == s.h.ID() {
			level = slog.LevelDebug
		}
		attrs := []any{"member", ev.Member.PeerID, "state", ev.Member.State.String()}
		if ev.Kind == EventJoined {
			attrs = append(attrs, "addrs", fmt.Sprint(ev.Member.Addrs))
		}
		s.log.Log(context.Background(), level, "member "+ev.Kind.String(), attrs...)
		for sub := range s.subs {
			select {
			case sub.ch <- ev:
			default:
				s.m.dropped.Inc()
			}
		}
	}
}

// Members returns the whole table, this node included, failed and left
// members too, sorted by peer id.
func (s *Service) Members() []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Members()
}

// Live returns the members placement should count: Alive and Suspect ones
// (a suspect member may still hold data and a short pause must not move
// data; overlay repair applies its own grace period to failures), sorted by
// peer id.
func (s *Service) Live() []Member {
	all := s.Members()
	live := all[:0]
	for _, m := range all {
		if m.State.Live() {
			live = append(live, m)
		}
	}
	return live
}

// Member returns one member, if the table holds it.
func (s *Service) Member(p peer.ID) (Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.table.Get(p)
}

// PublishMeta replaces this node's tags and service prefixes and publishes
// them at once on the meta topic with a new seq; later heartbeats carry
// them too. Receivers keep the announcement with the highest seq
// (last-writer-wins).
func (s *Service) PublishMeta(ctx context.Context, tags map[string]string, services []string) error {
	if err := validateMeta(tags, services); err != nil {
		return err
	}
	s.mu.Lock()
	if s.state != running {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.leaving {
		s.mu.Unlock()
		return ErrLeft
	}
	s.meta = &metaOverride{tags: maps.Clone(tags), services: slices.Clone(services)}
	a, err := s.prepareLocked(false)
	t := s.metaT
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("gossip: publish meta: %w", err)
	}
	return s.publish(ctx, t, a)
}

// Leave announces a graceful leave and stops heartbeats. It repeats the
// announcement (with a new seq each time) every half heartbeat for
// Config.LeaveGrace, or until ctx ends, so that a lost message does not
// turn the leave into a failure and the announcement is out before the
// caller closes the host. Peers mark this node left rather than failed.
// Leave does not stop the Service: call Close afterwards. It is distinct
// from Close, which alone announces nothing (peers then detect a failure).
func (s *Service) Leave(ctx context.Context) error {
	s.mu.Lock()
	if s.state != running {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.leaving {
		s.mu.Unlock()
		return nil
	}
	s.leaving = true
	t := s.members
	s.mu.Unlock()

	announce := func() error {
		s.mu.Lock()
		a, err := s.prepareLocked(true)
		s.mu.Unlock()
		if err == nil {
			err = s.publish(ctx, t, a)
		}
		if err != nil {
			return fmt.Errorf("gossip: leave: %w", err)
		}
		return nil
	}
	if err := announce(); err != nil {
		return err
	}
	s.log.Info("leaving membership", "grace", s.cfg.LeaveGrace)
	grace := time.NewTimer(s.cfg.LeaveGrace)
	defer grace.Stop()
	again := time.NewTicker(max(s.cfg.HeartbeatInterval/2, time.Millisecond))
	defer again.Stop()
	for {
		select {
		case <-grace.C:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("gossip: leave: %w", ctx.Err())
		case <-again.C:
			if err := announce(); err != nil {
				return err
			}
		}
	}
}

// Close stops the loops and waits for them, then cancels the subscriptions,
// leaves the topics and unregisters the validators (the reverse of Start),
// and closes every event channel. It does not close the PubSub or the host,
// which the caller owns, and it announces nothing (see Leave). Close is
// idempotent; later calls return the first result.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.state == closed {
		err := s.closeErr
		s.mu.Unlock()
		return err
	}
	s.state = closed
	cancel := s.cancel
	s.mu.Unlock()

	if cancel != nil {
		cancel()
	}
	s.wg.Wait()

	// Nothing else touches the pubsub handles once state is closed and the
	// loops are done, so tear down without holding mu: the validator, which
	// pubsub may still be running, takes it.
	err := s.teardown()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeErr = err
	for sub := range s.subs {
		delete(s.subs, sub)
		close(sub.ch)
	}
	return err
}

// teardown undoes Start in reverse order. A pubsub already stopped by its
// owner has released everything, so its context error is not a failure.
func (s *Service) teardown() error {
	var errs []error
	for i := len(s.psSubs) - 1; i >= 0; i-- {
		s.psSubs[i].Cancel()
	}
	for i := len(s.topics) - 1; i >= 0; i-- {
		if err := s.topics[i].Close(); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("gossip: close topic %s: %w", s.topics[i], err))
		}
	}
	for i := len(s.vals) - 1; i >= 0; i-- {
		if err := s.ps.UnregisterTopicValidator(s.vals[i]); err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("gossip: unregister validator %s: %w", s.vals[i], err))
		}
	}
	s.psSubs, s.topics, s.vals = nil, nil, nil
	return errors.Join(errs...)
}
