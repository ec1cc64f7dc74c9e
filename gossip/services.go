package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

// ServiceAnnouncement is a node's full list of the service instances it
// serves, published on /xnode/<network>/services/1. Each announcement
// replaces the previous one from the same peer; instances not renewed
// expire TTL after the announcement arrives.
type ServiceAnnouncement struct {
	// PeerID is the announcing node; it must be the message signer.
	PeerID peer.ID `cbor:"1,keyasint"`
	// Seq orders a peer's announcements (Unix nanoseconds, increasing).
	Seq uint64 `cbor:"2,keyasint"`
	// TTL is how long the instances live without a new announcement.
	TTL time.Duration `cbor:"3,keyasint"`
	// Instances are the node's instances; empty withdraws them all.
	Instances []ServiceInstance `cbor:"4,keyasint"`
}

// ServiceInstance is one instance in a ServiceAnnouncement.
type ServiceInstance struct {
	Service string            `cbor:"1,keyasint"` // NAMESPACE/SERVICE
	ID      string            `cbor:"2,keyasint"`
	Proto   string            `cbor:"3,keyasint"` // http or tcp
	Tags    map[string]string `cbor:"4,keyasint,omitempty"`
	Weight  int               `cbor:"5,keyasint,omitempty"`
	Healthy bool              `cbor:"6,keyasint,omitempty"`
	Load    float64           `cbor:"7,keyasint,omitempty"`
}

// Namespace is the namespace part of Service.
func (si ServiceInstance) Namespace() string {
	ns, _, _ := strings.Cut(si.Service, "/")
	return ns
}

// Limits on a service announcement.
const (
	MaxServiceMessageSize = 64 << 10
	MaxServiceInstances   = 64
	MaxServiceTTL         = 10 * time.Minute
)

// ErrUnauthorised is a service announcement for a namespace that does not
// allow its signer to publish.
var ErrUnauthorised = errors.New("gossip: peer may not publish this namespace's services")

// EncodeServiceAnnouncement encodes a, checking the limits.
func EncodeServiceAnnouncement(a ServiceAnnouncement) ([]byte, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	b, err := cbor.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(b) > MaxServiceMessageSize {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxServiceMessageSize)
	}
	return b, nil
}

// DecodeServiceAnnouncement decodes b, refusing it before decoding when it
// is over MaxServiceMessageSize.
func DecodeServiceAnnouncement(b []byte) (ServiceAnnouncement, error) {
	var a ServiceAnnouncement
	if len(b) > MaxServiceMessageSize {
		return a, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(b), MaxServiceMessageSize)
	}
	dm, _ := cbor.DecOptions{MaxArrayElements: 1024, MaxMapPairs: 1024, MaxNestedLevels: 8}.DecMode()
	if err := dm.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return a, a.check()
}

func (a ServiceAnnouncement) check() error {
	switch {
	case a.PeerID == "":
		return fmt.Errorf("%w: no peer id", ErrMalformed)
	case a.TTL <= 0 || a.TTL > MaxServiceTTL:
		return fmt.Errorf("%w: ttl %v: want (0, %v]", ErrMalformed, a.TTL, MaxServiceTTL)
	case len(a.Instances) > MaxServiceInstances:
		return fmt.Errorf("%w: %d instances, at most %d", ErrMalformed, len(a.Instances), MaxServiceInstances)
	}
	for _, in := range a.Instances {
		ns, name, ok := strings.Cut(in.Service, "/")
		if !ok || ns == "" || name == "" || len(in.Service) > 128 || in.ID == "" || len(in.ID) > 64 || (in.Proto != "http" && in.Proto != "tcp") || len(in.Tags) > 32 {
			return fmt.Errorf("%w: instance %q/%q", ErrMalformed, in.Service, in.ID)
		}
	}
	return nil
}

// ServiceAuthoriser answers whether peer p may publish services of the
// namespace ns. It must be quick (cache chain answers per block): it runs in
// the topic validator.
type ServiceAuthoriser interface {
	MayPublish(ctx context.Context, ns string, p peer.ID) error
}

// ServiceTopic carries service announcements on /xnode/<network>/services/1
// with its own validator: size, decoding, signer is the peer named, a newer
// seq, and every instance's namespace authorised for the signer.
// Rejections are counted in xnode_service_announcements_rejected_total
// {reason}. New starts nothing; Start joins; Close waits.
type ServiceTopic struct {
	name    string
	h       host.Host
	ps      *pubsub.PubSub
	auth    ServiceAuthoriser
	deliver func(ServiceAnnouncement, time.Time)
	log     *slog.Logger

	rejected *prometheus.CounterVec
	accepted prometheus.Counter

	mu      sync.Mutex
	highest map[peer.ID]uint64
	counts  map[string]uint64
	lastSeq uint64
	topic   *pubsub.Topic
	sub     *pubsub.Subscription
	cancel  context.CancelFunc
	started bool
	wg      sync.WaitGroup
}

// Rejection reasons of service announcements.
const (
	ReasonUnauthorised = "unauthorised"
)

// NewServiceTopic returns a ServiceTopic for network. deliver is called,
// from one goroutine, with every accepted announcement (this node's own
// included) and the time it arrived.
func NewServiceTopic(network string, h host.Host, ps *pubsub.PubSub, auth ServiceAuthoriser, deliver func(ServiceAnnouncement, time.Time), reg prometheus.Registerer, log *slog.Logger) (*ServiceTopic, error) {
	if network == "" || h == nil || ps == nil || auth == nil || deliver == nil {
		return nil, fmt.Errorf("gossip: service topic: network, host, pubsub, authoriser and deliver are required: %w", ErrMalformed)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &ServiceTopic{
		name: "/xnode/" + network + "/services/1", h: h, ps: ps, auth: auth, deliver: deliver,
		log:     log.With("component", "gossip-services"),
		highest: map[peer.ID]uint64{},
		counts:  map[string]uint64{},
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_service_announcements_rejected_total",
			Help: "Service announcements rejected by the services topic validator, by reason.",
		}, []string{"reason"}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_service_announcements_accepted_total",
			Help: "Service announcements accepted.",
		}),
	}
	for _, r := range []string{reasonDecode, reasonTooLarge, reasonPeerMismatch, reasonStaleSeq, ReasonUnauthorised} {
		t.rejected.WithLabelValues(r)
	}
	if err := promreg.Register(reg, t.rejected, t.accepted); err != nil {
		return nil, err
	}
	return t, nil
}

// Topic is the topic name.
func (t *ServiceTopic) Topic() string { return t.name }

// Rejected is the number of announcements rejected for reason.
func (t *ServiceTopic) Rejected(reason string) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts[reason]
}

// Start registers the validator, joins and subscribes.
func (t *ServiceTopic) Start(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started {
		return fmt.Errorf("gossip: service topic: %w", ErrClosed)
	}
	if err := t.ps.RegisterTopicValidator(t.name, t.validate, pubsub.WithValidatorTimeout(5*time.Second)); err != nil {
		return fmt.Errorf("gossip: register validator %s: %w", t.name, err)
	}
	topic, err := t.ps.Join(t.name)
	if err != nil {
		_ = t.ps.UnregisterTopicValidator(t.name)
		return fmt.Errorf("gossip: join %s: %w", t.name, err)
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(256))
	if err != nil {
		_ = topic.Close()
		_ = t.ps.UnregisterTopicValidator(t.name)
		return fmt.Errorf("gossip: subscribe %s: %w", t.name, err)
	}
	t.topic, t.sub, t.started = topic, sub, true
	loop, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	t.wg.Go(func() { t.receive(loop) })
	return nil
}

// Publish announces this node's instances (all of them; empty withdraws).
func (t *ServiceTopic) Publish(ctx context.Context, ttl time.Duration, ins []ServiceInstance) error {
	t.mu.Lock()
	topic := t.topic
	seq := uint64(time.Now().UnixNano())
	if seq <= t.lastSeq {
		seq = t.lastSeq + 1
	}
	t.lastSeq = seq
	t.mu.Unlock()
	if topic == nil {
		return fmt.Errorf("gossip: service publish: %w", ErrClosed)
	}
	b, err := EncodeServiceAnnouncement(ServiceAnnouncement{PeerID: t.h.ID(), Seq: seq, TTL: ttl, Instances: ins})
	if err != nil {
		return err
	}
	if err := topic.Publish(ctx, b); err != nil {
		return fmt.Errorf("gossip: service publish: %w", err)
	}
	return nil
}

func (t *ServiceTopic) receive(ctx context.Context) {
	for {
		msg, err := t.sub.Next(ctx)
		if err != nil {
			return
		}
		a, ok := msg.ValidatorData.(ServiceAnnouncement)
		if !ok {
			continue
		}
		t.accepted.Inc()
		t.deliver(a, time.Now())
	}
}

func (t *ServiceTopic) validate(ctx context.Context, _ peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	signer := msg.GetFrom()
	a, err := DecodeServiceAnnouncement(msg.Data)
	if err != nil {
		reason := reasonDecode
		if errors.Is(err, ErrTooLarge) {
			reason = reasonTooLarge
		}
		return t.reject(reason, signer, err)
	}
	if a.PeerID != signer {
		return t.reject(reasonPeerMismatch, signer, fmt.Errorf("%w: names %s", ErrPeerMismatch, a.PeerID))
	}
	seen := map[string]bool{}
	for _, in := range a.Instances {
		ns := in.Namespace()
		if seen[ns] {
			continue
		}
		seen[ns] = true
		if err := t.auth.MayPublish(ctx, ns, signer); err != nil {
			return t.reject(ReasonUnauthorised, signer, err)
		}
	}
	t.mu.Lock()
	fresh := a.Seq > t.highest[signer]
	if fresh {
		t.highest[signer] = a.Seq
	}
	t.mu.Unlock()
	if !fresh {
		if signer == t.h.ID() {
			return pubsub.ValidationIgnore
		}
		return t.reject(reasonStaleSeq, signer, fmt.Errorf("%w: seq %d", ErrStaleSeq, a.Seq))
	}
	msg.ValidatorData = a
	return pubsub.ValidationAccept
}

func (t *ServiceTopic) reject(reason string, signer peer.ID, err error) pubsub.ValidationResult {
	t.rejected.WithLabelValues(reason).Inc()
	t.mu.Lock()
	t.counts[reason]++
	t.mu.Unlock()
	t.log.Info("service announcement rejected", "signer", signer, "reason", reason, "err", err)
	return pubsub.ValidationReject
}

// Close leaves the topic and waits for the receive loop.
func (t *ServiceTopic) Close() error {
	t.mu.Lock()
	if !t.started {
		t.mu.Unlock()
		return nil
	}
	t.started = false
	t.cancel()
	sub, topic := t.sub, t.topic
	t.topic = nil
	t.mu.Unlock()
	sub.Cancel()
	t.wg.Wait()
	err := topic.Close()
	_ = t.ps.UnregisterTopicValidator(t.name)
	return err
}
