package service

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Config tunes the balancer and the outlier detector. The zero value of a
// field means its default.
type Config struct {
	// Decay is the peak-EWMA decay time (default 10 s).
	Decay time.Duration
	// InitialLatency is the cost of an instance with no history while no
	// instance of the service has any (default 250 ms). Once some have, an
	// instance with no history costs as much as the worst of them:
	// pessimistic, so a new instance earns its traffic, yet tried.
	InitialLatency time.Duration
	// FailureLatency is the latency a failed call counts as, at least
	// (default 1 s), so a fast-failing instance does not attract traffic.
	FailureLatency time.Duration
	// ConsecutiveFailures ejects an instance after this many failures in
	// a row (default 5, Envoy's consecutive_5xx).
	ConsecutiveFailures int
	// FailureRatePercent and FailureRateMinRequests: an instance whose
	// failures in one Interval reach this percentage of at least that many
	// requests is ejected (defaults 85 and 50, Envoy's failure_percentage).
	FailureRatePercent     int
	FailureRateMinRequests int
	// Interval is the failure-rate window (default 10 s).
	Interval time.Duration
	// BaseEjection is multiplied by the times ejected (default 30 s).
	BaseEjection time.Duration
	// MaxEjection caps an ejection (default 300 s).
	MaxEjection time.Duration
	// PanicPercent: when fewer than this percentage of the instances are
	// healthy, the balancer uses them all (default 50).
	PanicPercent int
	// Seed seeds the choice of the two candidates (0: random).
	Seed uint64
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defi := func(d *int, v int) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.Decay, 10*time.Second)
	def(&c.InitialLatency, 250*time.Millisecond)
	def(&c.FailureLatency, time.Second)
	def(&c.Interval, 10*time.Second)
	def(&c.BaseEjection, 30*time.Second)
	def(&c.MaxEjection, 300*time.Second)
	defi(&c.ConsecutiveFailures, 5)
	defi(&c.FailureRatePercent, 85)
	defi(&c.FailureRateMinRequests, 50)
	defi(&c.PanicPercent, 50)
	return c
}

// Validate checks the configuration (after defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Decay < 0, c.InitialLatency < 0, c.FailureLatency < 0, c.Interval < 0, c.BaseEjection < 0, c.MaxEjection < 0:
		return fmt.Errorf("service: config: durations must not be negative")
	case c.MaxEjection < c.BaseEjection:
		return fmt.Errorf("service: config: MaxEjection %v below BaseEjection %v", c.MaxEjection, c.BaseEjection)
	case c.ConsecutiveFailures < 0, c.FailureRateMinRequests < 0:
		return fmt.Errorf("service: config: counts must not be negative")
	case c.FailureRatePercent < 0 || c.FailureRatePercent > 100, c.PanicPercent < 0 || c.PanicPercent > 100:
		return fmt.Errorf("service: config: percentages must be 0..100")
	}
	return nil
}

// Outcome is how a call ended.
type Outcome int

const (
	// Success: the instance answered (any answer that is not its fault).
	Success Outcome = iota
	// Failure: connect error, reset, timeout or a 5xx.
	Failure
	// Cancelled: the caller gave up; it says nothing about the instance.
	Cancelled
)

// Done reports a picked call's outcome and latency. Call it exactly once.
type Done func(outcome Outcome, latency time.Duration)

// Filter restricts a pick.
type Filter struct {
	// Tags must all match the instance's tags.
	Tags map[string]string
	// Zone is the caller's zone; instances with the same "zone" tag are
	// preferred while healthy ones exist.
	Zone string
	// Exclude lists instance keys not to pick (the instances a retry has
	// already tried).
	Exclude map[string]bool
}

func (f Filter) match(in Instance) bool {
	if f.Exclude[in.Key()] {
		return false
	}
	for k, v := range f.Tags {
		if got, ok := in.Tags[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// state is what the balancer knows about one instance.
type state struct {
	inst        Instance
	cost        float64 // peak-EWMA latency, nanoseconds
	stamp       time.Time
	observed    bool
	outstanding int

	consecutive   int
	windowStart   time.Time
	windowReqs    int
	windowFails   int
	timesEjected  int
	ejectedUntil  time.Time
	lastEjected   time.Time
	ejectionCount uint64
	requests      uint64
	failures      uint64
}

// Stats is a snapshot of one instance as the balancer sees it.
type Stats struct {
	Instance
	// Latency is the current peak-EWMA latency estimate.
	Latency time.Duration `json:"ewma_latency"`
	// InFlight is the number of outstanding calls through this node.
	InFlight int `json:"in_flight"`
	// EjectedUntil is zero unless the instance is ejected.
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	// Ejections counts the times it was ejected.
	Ejections uint64 `json:"ejections"`
	// Requests and Failures count completed calls.
	Requests uint64 `json:"requests"`
	Failures uint64 `json:"failures"`
}

// Balancer picks instances of one service. It is safe for concurrent use
// and starts no goroutine.
type Balancer struct {
	cfg Config

	mu     sync.Mutex
	rng    *rand.Rand
	states map[string]*state
	// OnEject, when set, is called (under no lock) with each ejection.
	onEject func(Instance, time.Time)
}

// NewBalancer returns an empty balancer. cfg must pass Validate.
func NewBalancer(cfg Config) *Balancer {
	cfg = cfg.withDefaults()
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	return &Balancer{cfg: cfg, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), states: map[string]*state{}}
}

// OnEject sets a function called after each ejection (for metrics).
func (b *Balancer) OnEject(f func(Instance, time.Time)) {
	b.mu.Lock()
	b.onEject = f
	b.mu.Unlock()
}

// Upsert adds an instance at now or refreshes its announced fields; its
// history (latency, ejection) is kept.
func (b *Balancer) Upsert(now time.Time, in Instance) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s, ok := b.states[in.Key()]; ok {
		s.inst = in.Clone()
		return
	}
	b.states[in.Key()] = &state{inst: in.Clone(), cost: float64(b.cfg.InitialLatency), stamp: now}
}

// Remove forgets an instance.
func (b *Balancer) Remove(key string) {
	b.mu.Lock()
	delete(b.states, key)
	b.mu.Unlock()
}

// Len is the number of instances.
func (b *Balancer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.states)
}

// decayed is the cost at now: the estimate decays toward zero while no
// observation arrives (Linkerd's peak EWMA), so idle instances get tried.
func (b *Balancer) decayed(s *state, now time.Time) float64 {
	if s.stamp.IsZero() {
		return s.cost
	}
	dt := now.Sub(s.stamp)
	if dt <= 0 {
		return s.cost
	}
	return s.cost * math.Exp(-float64(dt)/float64(b.cfg.Decay))
}

// loadWith is the instance's load: cost × (outstanding + 1) / weight. An
// unobserved instance costs worst when worst ≥ 0.
func (b *Balancer) loadWith(s *state, now time.Time, worst float64) float64 {
	w := s.inst.Weight
	if w <= 0 {
		w = 1
	}
	cost := b.decayed(s, now)
	if !s.observed && worst >= 0 {
		cost = worst
	}
	// A floor of 1 µs keeps a zero estimate from making every instance equal.
	cost = math.Max(cost, float64(time.Microsecond))
	return cost * float64(s.outstanding+1) / float64(w)
}

func ejected(s *state, now time.Time) bool { return now.Before(s.ejectedUntil) }

// Pick chooses an instance for a call at now. It returns ErrNoInstance when
// no announced-healthy instance matches the filter.
func (b *Balancer) Pick(now time.Time, f Filter) (Instance, Done, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var pool []*state
	for _, s := range b.states {
		if s.inst.Healthy && f.match(s.inst) && (s.inst.Expires.IsZero() || now.Before(s.inst.Expires)) {
			pool = append(pool, s)
		}
	}
	if len(pool) == 0 {
		return Instance{}, nil, ErrNoInstance
	}
	// Map iteration is random; sort so a seeded balancer is reproducible.
	sort.Slice(pool, func(i, j int) bool { return pool[i].inst.Key() < pool[j].inst.Key() })
	var healthy []*state
	for _, s := range pool {
		if !ejected(s, now) {
			healthy = append(healthy, s)
		}
	}
	// Panic mode: with fewer than PanicPercent healthy, use them all.
	cands := healthy
	if len(healthy)*100 < len(pool)*b.cfg.PanicPercent || len(healthy) == 0 {
		cands = pool
	}
	if f.Zone != "" {
		var local []*state
		for _, s := range cands {
			if s.inst.Tags["zone"] == f.Zone {
				local = append(local, s)
			}
		}
		if len(local) > 0 {
			cands = local
		}
	}
	s := cands[0]
	if len(cands) > 1 {
		i := b.rng.IntN(len(cands))
		j := b.rng.IntN(len(cands) - 1)
		if j >= i {
			j++
		}
		a, c := cands[i], cands[j]
		// An instance with no history costs as much as the worst one
		// observed (InitialLatency when none is): never preferred to a
		// known instance, but tried as soon as it is paired with the
		// worst, so it is not starved.
		worst := -1.0
		for _, s := range b.states {
			if s.observed {
				worst = math.Max(worst, b.decayed(s, now))
			}
		}
		s = a
		if b.loadWith(c, now, worst) < b.loadWith(a, now, worst) {
			s = c
		}
	}
	s.outstanding++
	key := s.inst.Key()
	inst := s.inst.Clone()
	var once sync.Once
	done := func(o Outcome, latency time.Duration) {
		once.Do(func() { b.done(key, now.Add(latency), o, latency) })
	}
	return inst, done, nil
}

func (b *Balancer) done(key string, now time.Time, o Outcome, latency time.Duration) {
	b.mu.Lock()
	s, ok := b.states[key]
	if !ok {
		b.mu.Unlock()
		return
	}
	if s.outstanding > 0 {
		s.outstanding--
	}
	if o == Cancelled {
		b.mu.Unlock()
		return
	}
	rtt := float64(latency)
	if o == Failure {
		rtt = math.Max(rtt, float64(b.cfg.FailureLatency))
	}
	b.observe(s, now, rtt)
	s.requests++
	var ejectedInst *Instance
	var until time.Time
	if b.outcome(s, now, o) {
		ejectedInst = new(Instance)
		*ejectedInst = s.inst.Clone()
		until = s.ejectedUntil
	}
	f := b.onEject
	b.mu.Unlock()
	if ejectedInst != nil && f != nil {
		f(*ejectedInst, until)
	}
}

// observe folds one latency into the peak EWMA: a higher sample replaces
// the estimate at once, a lower one is averaged in with weight decaying
// over Decay.
func (b *Balancer) observe(s *state, now time.Time, rtt float64) {
	cur := b.decayed(s, now)
	if rtt > cur {
		s.cost = rtt
	} else {
		dt := 0.0
		if now.After(s.stamp) {
			dt = float64(now.Sub(s.stamp))
		}
		// An instance with no history takes its first sample whole.
		if !s.observed {
			s.cost = rtt
		} else {
			w := math.Exp(-dt / float64(b.cfg.Decay))
			// At least a small step toward the sample, so bursts at one
			// instant still move the estimate.
			w = math.Min(w, 0.9)
			s.cost = cur*w + rtt*(1-w)
		}
	}
	s.stamp = now
	s.observed = true
}

// outcome runs the outlier detector for one completed call and reports
// whether it ejected the instance.
func (b *Balancer) outcome(s *state, now time.Time, o Outcome) bool {
	if s.windowStart.IsZero() || now.Sub(s.windowStart) >= b.cfg.Interval {
		s.windowStart, s.windowReqs, s.windowFails = now, 0, 0
	}
	s.windowReqs++
	if o == Success {
		s.consecutive = 0
		// A clean stretch as long as the longest ejection forgets the
		// past ejections, as Envoy decrements its multiplier.
		if s.timesEjected > 0 && now.Sub(s.lastEjected) >= b.cfg.MaxEjection+b.cfg.Interval {
			s.timesEjected = 0
		}
		return false
	}
	s.failures++
	s.windowFails++
	s.consecutive++
	if ejected(s, now) {
		return false
	}
	trip := s.consecutive >= b.cfg.ConsecutiveFailures ||
		(s.windowReqs >= b.cfg.FailureRateMinRequests && s.windowFails*100 >= s.windowReqs*b.cfg.FailureRatePercent)
	if !trip || !b.mayEject(s, now) {
		return false
	}
	s.timesEjected++
	d := time.Duration(s.timesEjected) * b.cfg.BaseEjection
	if d > b.cfg.MaxEjection || d <= 0 {
		d = b.cfg.MaxEjection
	}
	s.ejectedUntil = now.Add(d)
	s.lastEjected = now
	s.ejectionCount++
	s.consecutive = 0
	s.windowStart, s.windowReqs, s.windowFails = now, 0, 0
	return true
}

// mayEject: never eject the last healthy instance.
func (b *Balancer) mayEject(s *state, now time.Time) bool {
	for _, o := range b.states {
		if o != s && o.inst.Healthy && !ejected(o, now) {
			return true
		}
	}
	return false
}

// Stats returns every instance's state at now, sorted by key.
func (b *Balancer) Stats(now time.Time) []Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Stats, 0, len(b.states))
	for _, s := range b.states {
		st := Stats{
			Instance:  s.inst.Clone(),
			Latency:   time.Duration(b.decayed(s, now)),
			InFlight:  s.outstanding,
			Ejections: s.ejectionCount,
			Requests:  s.requests,
			Failures:  s.failures,
		}
		if ejected(s, now) {
			st.EjectedUntil = s.ejectedUntil
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}
