package gossip

import (
	"math"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Detector is a phi-accrual failure detector (Hayashibara et al., 2004, in
// the form Akka and Cassandra use). For each peer it keeps a sliding window
// of heartbeat inter-arrival times and reports phi = -log10(P(a heartbeat
// arrives later than now)), the suspicion level that grows the longer a peer
// stays silent relative to its own history.
//
// Time enters only as arguments, so a Detector is a pure value: tests drive
// it with synthetic arrival times. It is not safe for concurrent use.
type Detector struct {
	window    int
	minStd    float64 // seconds
	pause     float64 // seconds
	firstHint float64 // seconds
	peers     map[peer.ID]*arrivals
}

// arrivals is one peer's history: a ring of inter-arrival samples (seconds)
// with running sums so mean and variance cost O(1).
type arrivals struct {
	last   time.Time
	ring   []float64
	next   int
	sum    float64
	sumSq  float64
	filled int
}

// NewDetector builds a detector from cfg's WindowSize, MinStdDev,
// AcceptablePause and HeartbeatInterval (the first estimate for a peer not
// yet measured). cfg need not name a Network.
func NewDetector(cfg Config) *Detector {
	return &Detector{
		window:    max(cfg.WindowSize, 2),
		minStd:    cfg.MinStdDev.Seconds(),
		pause:     cfg.AcceptablePause.Seconds(),
		firstHint: cfg.HeartbeatInterval.Seconds(),
		peers:     make(map[peer.ID]*arrivals),
	}
}

// Heartbeat records a heartbeat from p arriving at now. The first heartbeat
// of a peer seeds its window with two samples around HeartbeatInterval, so
// that phi is meaningful before real intervals accumulate. A heartbeat that
// appears to arrive before the previous one (a clock step) only moves the
// reference point.
func (d *Detector) Heartbeat(p peer.ID, now time.Time) {
	a, ok := d.peers[p]
	if !ok {
		a = &arrivals{ring: make([]float64, d.window)}
		d.peers[p] = a
		sd := d.firstHint / 4
		a.add(d.firstHint - sd)
		a.add(d.firstHint + sd)
		a.last = now
		return
	}
	if dt := now.Sub(a.last); dt > 0 {
		a.add(dt.Seconds())
	}
	a.last = now
}

// Phi reports the suspicion level for p at now; 0 for a peer never heard
// from. It is finite for any input (large silences give large finite
// values), so it is safe to serialise.
func (d *Detector) Phi(p peer.ID, now time.Time) float64 {
	a, ok := d.peers[p]
	if !ok {
		return 0
	}
	mean, std := a.stats()
	return phi(now.Sub(a.last).Seconds(), mean+d.pause, max(std, d.minStd))
}

// Forget drops p's history; its next heartbeat starts afresh.
func (d *Detector) Forget(p peer.ID) { delete(d.peers, p) }

func (a *arrivals) add(x float64) {
	if a.filled == len(a.ring) {
		old := a.ring[a.next]
		a.sum -= old
		a.sumSq -= old * old
	} else {
		a.filled++
	}
	a.ring[a.next] = x
	a.next = (a.next + 1) % len(a.ring)
	a.sum += x
	a.sumSq += x * x
}

func (a *arrivals) stats() (mean, std float64) {
	n := float64(a.filled)
	mean = a.sum / n
	variance := a.sumSq/n - mean*mean
	if variance < 0 { // rounding in the running sums
		variance = 0
	}
	return mean, math.Sqrt(variance)
}

// phi is -log10 of the probability that a normally distributed (mean, std)
// inter-arrival time exceeds elapsed, using the logistic approximation of
// the normal CDF: P(X > t) ≈ 1/(1+e^z) with z = y(1.5976 + 0.070566y²),
// y = (t-mean)/std. Then phi = log10(1+e^z), computed so it never
// overflows.
func phi(elapsed, mean, std float64) float64 {
	y := (elapsed - mean) / std
	z := y * (1.5976 + 0.070566*y*y)
	return softplus(z) / math.Ln10
}

// softplus is log(1+e^z) without overflow.
func softplus(z float64) float64 {
	if z > 30 {
		return z + math.Exp(-z)
	}
	return math.Log1p(math.Exp(z))
}

// silenceFor inverts phi: the elapsed time at which a (mean, std) model
// reaches level. z is monotonic in y, so bisection suffices.
func silenceFor(level float64, mean, std time.Duration) time.Duration {
	if std <= 0 {
		return mean
	}
	// softplus(z) = level·ln10  ⇒  z = log(10^level - 1).
	target := math.Log(math.Expm1(level * math.Ln10))
	lo, hi := -50.0, 50.0
	for range 200 {
		mid := (lo + hi) / 2
		if mid*(1.5976+0.070566*mid*mid) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return mean + time.Duration(lo*float64(std))
}
