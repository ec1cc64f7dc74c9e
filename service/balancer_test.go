package service

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func inst(id string, tags ...string) Instance {
	in := Instance{Service: "acme/api", ID: id, Peer: "peer-" + id, Proto: ProtoHTTP, Healthy: true, Weight: 1, Expires: t0.Add(time.Hour), Tags: map[string]string{}}
	for _, kv := range tags {
		k, v, _ := cut(kv)
		in.Tags[k] = v
	}
	return in
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func newBal(t *testing.T, cfg Config, ins ...Instance) *Balancer {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = 42
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := NewBalancer(cfg)
	for _, in := range ins {
		b.Upsert(t0, in)
	}
	return b
}

// warm makes one call to each instance so none is unexplored.
func warm(t *testing.T, b *Balancer, now time.Time, lat time.Duration) {
	t.Helper()
	for _, st := range b.Stats(now) {
		ex := map[string]bool{}
		for _, o := range b.Stats(now) {
			if o.Key() != st.Key() {
				ex[o.Key()] = true
			}
		}
		_, d, err := b.Pick(now, Filter{Exclude: ex})
		if err != nil {
			t.Fatal(err)
		}
		d(Success, lat)
	}
}

// run makes n sequential calls, 1 ms apart, each answered after the
// instance's latency, and counts picks per instance id.
func run(t *testing.T, b *Balancer, now *time.Time, n int, f Filter, lat map[string]time.Duration, fail map[string]bool) map[string]int {
	t.Helper()
	picks := map[string]int{}
	for range n {
		in, done, err := b.Pick(*now, f)
		if err != nil {
			t.Fatal(err)
		}
		picks[in.ID]++
		o := Success
		if fail[in.ID] {
			o = Failure
		}
		l, ok := lat[in.ID]
		if !ok {
			l = time.Millisecond
		}
		done(o, l)
		*now = now.Add(time.Millisecond)
	}
	return picks
}

func TestSlowInstanceGetsFewerPicks(t *testing.T) {
	for _, tc := range []struct {
		name string
		lat  map[string]time.Duration
		// slow must get at most this share of the picks.
		maxShare float64
	}{
		{"10x slower", map[string]time.Duration{"a": 5 * time.Millisecond, "b": 5 * time.Millisecond, "c": 50 * time.Millisecond}, 0.10},
		{"3x slower", map[string]time.Duration{"a": 10 * time.Millisecond, "b": 12 * time.Millisecond, "c": 30 * time.Millisecond}, 0.20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBal(t, Config{}, inst("a"), inst("b"), inst("c"))
			now := t0
			warm(t, b, now, 5*time.Millisecond)
			picks := run(t, b, &now, 3000, Filter{}, tc.lat, nil)
			share := float64(picks["c"]) / 3000
			if share > tc.maxShare || picks["a"] < 500 || picks["b"] < 500 {
				t.Fatalf("picks %v: slow share %.3f, want ≤ %.2f and the fast ones used", picks, share, tc.maxShare)
			}
		})
	}
}

func TestOutstandingSpreadsConcurrentCalls(t *testing.T) {
	b := newBal(t, Config{}, inst("a"), inst("b"))
	now := t0
	warm(t, b, now, time.Millisecond)
	run(t, b, &now, 200, Filter{}, map[string]time.Duration{"a": time.Millisecond, "b": time.Millisecond}, nil)
	// Ten calls in flight at once, none answered: cost × (outstanding+1)
	// must spread them rather than pile them on one instance.
	picks := map[string]int{}
	var dones []Done
	for range 10 {
		in, d, err := b.Pick(now, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		picks[in.ID]++
		dones = append(dones, d)
	}
	for _, d := range dones {
		d(Success, time.Millisecond)
	}
	if picks["a"] < 3 || picks["b"] < 3 {
		t.Fatalf("in-flight picks %v: want both used", picks)
	}
}

func TestNewInstanceStartsPessimistic(t *testing.T) {
	b := newBal(t, Config{}, inst("a"), inst("b"))
	now := t0
	lat := map[string]time.Duration{"a": 5 * time.Millisecond, "b": 20 * time.Millisecond, "c": 5 * time.Millisecond}
	warm(t, b, now, 5*time.Millisecond)
	run(t, b, &now, 100, Filter{}, lat, nil)
	b.Upsert(now, inst("c"))
	// Against a known fast instance the new one never wins: it costs as
	// much as the worst known (b, 20 ms).
	notB := Filter{Exclude: map[string]bool{"peer-b/b": true}}
	if p := run(t, b, &now, 50, notB, lat, nil); p["c"] != 0 {
		t.Fatalf("a new instance beat a known fast one %d times of 50, want 0 (pessimistic start)", p["c"])
	}
	// Paired with the worst it is tried and, being fast, takes its share.
	if p := run(t, b, &now, 3000, Filter{}, lat, nil); p["c"] < 800 || p["b"] > p["c"]/3 {
		t.Fatalf("after it was tried the new instance got %v, want a fair share", p)
	}
}

func TestWeightScalesShare(t *testing.T) {
	a, bb := inst("a"), inst("b")
	bb.Weight = 4
	b := newBal(t, Config{}, a, bb)
	now := t0
	warm(t, b, now, 5*time.Millisecond)
	// Equal latency; concurrency makes the weight visible: keep 8 in flight.
	picks := map[string]int{}
	var dones []Done
	for i := range 2000 {
		in, d, err := b.Pick(now, Filter{})
		if err != nil {
			t.Fatal(err)
		}
		picks[in.ID]++
		dones = append(dones, d)
		if len(dones) == 8 {
			dones[0](Success, 5*time.Millisecond)
			dones = dones[1:]
		}
		_ = i
		now = now.Add(time.Millisecond)
	}
	if picks["b"] < 2*picks["a"] {
		t.Fatalf("weight 4 vs 1: picks %v", picks)
	}
}

func TestEjectionTimes(t *testing.T) {
	cfg := Config{}
	b := newBal(t, cfg, inst("a"), inst("b"), inst("c"))
	now := t0
	fail := func(n int) {
		for range n {
			_, d, _ := b.Pick(now, Filter{Exclude: map[string]bool{"peer-b/b": true, "peer-c/c": true}})
			d(Failure, time.Millisecond)
		}
	}
	for i, want := range []time.Duration{30 * time.Second, 60 * time.Second, 90 * time.Second, 120 * time.Second, 150 * time.Second, 180 * time.Second, 210 * time.Second, 240 * time.Second, 270 * time.Second, 300 * time.Second, 300 * time.Second} {
		fail(4)
		if st := stat(b, now, "a"); !st.EjectedUntil.IsZero() {
			t.Fatalf("round %d: ejected after 4 failures", i)
		}
		fail(1)
		st := stat(b, now, "a")
		// The fifth failure completes at now + 1 ms.
		if got := st.EjectedUntil.Sub(now.Add(time.Millisecond)); got != want {
			t.Fatalf("round %d: ejected for %v, want %v", i, got, want)
		}
		if st.Ejections != uint64(i+1) {
			t.Fatalf("round %d: ejections %d", i, st.Ejections)
		}
		// While ejected it is not picked.
		for range 50 {
			in, d, _ := b.Pick(now, Filter{})
			if in.ID == "a" {
				t.Fatalf("round %d: picked an ejected instance", i)
			}
			d(Success, time.Millisecond)
		}
		now = st.EjectedUntil
	}
}

func TestFailureRateEjects(t *testing.T) {
	b := newBal(t, Config{ConsecutiveFailures: 1000}, inst("a"), inst("b"))
	now := t0
	only := Filter{Exclude: map[string]bool{"peer-b/b": true}}
	for i := range 60 {
		_, d, _ := b.Pick(now, only)
		o := Failure
		if i%10 == 0 {
			o = Success // 90% failures
		}
		d(o, time.Millisecond)
		if i < 49 && !stat(b, now, "a").EjectedUntil.IsZero() {
			t.Fatalf("ejected after %d requests, below the minimum 50", i+1)
		}
	}
	if stat(b, now, "a").EjectedUntil.IsZero() {
		t.Fatal("90% failures over 60 requests did not eject")
	}
}

func TestNeverEjectLastHealthy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		instances []Instance
		wantEject map[string]bool
	}{
		{"single instance", []Instance{inst("a")}, map[string]bool{"a": false}},
		{"two, both failing", []Instance{inst("a"), inst("b")}, map[string]bool{"a": true, "b": false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBal(t, Config{}, tc.instances...)
			now := t0
			for _, id := range []string{"a", "b"} {
				ex := map[string]bool{}
				for _, in := range tc.instances {
					if in.ID != id {
						ex[in.Key()] = true
					}
				}
				for range 20 {
					in, d, err := b.Pick(now, Filter{Exclude: ex})
					if err != nil {
						break
					}
					if in.ID != id {
						d(Success, 0)
						continue
					}
					d(Failure, time.Millisecond)
				}
			}
			for id, want := range tc.wantEject {
				if got := !stat(b, now, id).EjectedUntil.IsZero(); got != want {
					t.Fatalf("%s ejected %v, want %v", id, got, want)
				}
			}
			if _, _, err := b.Pick(now, Filter{}); err != nil {
				t.Fatalf("no pick with every instance failing: %v", err)
			}
		})
	}
}

func TestPanicModeUsesAll(t *testing.T) {
	b := newBal(t, Config{}, inst("a"), inst("b"), inst("c"), inst("d"))
	now := t0
	for _, id := range []string{"a", "b", "c"} {
		ex := map[string]bool{}
		for _, o := range []string{"a", "b", "c", "d"} {
			if o != id {
				ex["peer-"+o+"/"+o] = true
			}
		}
		for range 5 {
			_, d, _ := b.Pick(now, Filter{Exclude: ex})
			d(Failure, time.Millisecond)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		if stat(b, now, id).EjectedUntil.IsZero() {
			t.Fatalf("%s not ejected", id)
		}
	}
	// 1 of 4 healthy is below 50%: every instance gets picks.
	warm(t, b, now, time.Millisecond)
	p := run(t, b, &now, 400, Filter{}, nil, nil)
	if p["a"]+p["b"]+p["c"] < 100 {
		t.Fatalf("panic mode: the ejected instances got too few picks: %v", p)
	}
	// With 2 of 4 ejected (50% healthy), only the healthy ones are used.
	b2 := newBal(t, Config{}, inst("a"), inst("b"), inst("c"), inst("d"))
	for _, id := range []string{"a", "b"} {
		for range 5 {
			_, d, _ := b2.Pick(now, Filter{Exclude: map[string]bool{}, Tags: nil})
			_ = d
			d(Cancelled, 0)
		}
		ex := map[string]bool{}
		for _, o := range []string{"a", "b", "c", "d"} {
			if o != id {
				ex["peer-"+o+"/"+o] = true
			}
		}
		for range 5 {
			_, d, _ := b2.Pick(now, Filter{Exclude: ex})
			d(Failure, time.Millisecond)
		}
	}
	p = run(t, b2, &now, 400, Filter{}, nil, nil)
	if p["a"]+p["b"] != 0 {
		t.Fatalf("half healthy: ejected ones picked: %v", p)
	}
}

func TestZonePreferenceAndTags(t *testing.T) {
	a, bb, c := inst("a", "zone=eu", "tier=gold"), inst("b", "zone=us", "tier=gold"), inst("c", "zone=eu", "tier=silver")
	for _, tc := range []struct {
		name   string
		f      Filter
		mutate func(*Balancer, *time.Time)
		want   map[string]bool // ids that may be picked
	}{
		{"zone eu", Filter{Zone: "eu"}, nil, map[string]bool{"a": true, "c": true}},
		{"zone us", Filter{Zone: "us"}, nil, map[string]bool{"b": true}},
		{"zone unknown uses all", Filter{Zone: "ap"}, nil, map[string]bool{"a": true, "b": true, "c": true}},
		{"tags", Filter{Tags: map[string]string{"tier": "gold"}}, nil, map[string]bool{"a": true, "b": true}},
		{"tags and zone", Filter{Zone: "eu", Tags: map[string]string{"tier": "gold"}}, nil, map[string]bool{"a": true}},
		{"zone eu unhealthy falls back", Filter{Zone: "eu"}, func(b *Balancer, _ *time.Time) {
			x, y := a, c
			x.Healthy, y.Healthy = false, false
			b.Upsert(t0, x)
			b.Upsert(t0, y)
		}, map[string]bool{"b": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBal(t, Config{}, a, bb, c)
			now := t0
			warm(t, b, now, time.Millisecond)
			if tc.mutate != nil {
				tc.mutate(b, &now)
			}
			p := run(t, b, &now, 300, tc.f, nil, nil)
			for id, n := range p {
				if !tc.want[id] {
					t.Fatalf("picked %s (%d times), want only %v", id, n, tc.want)
				}
			}
			if len(p) != len(tc.want) {
				t.Fatalf("picks %v, want all of %v used", p, tc.want)
			}
		})
	}
	b := newBal(t, Config{}, a, bb, c)
	if _, _, err := b.Pick(t0, Filter{Tags: map[string]string{"tier": "bronze"}}); !errors.Is(err, ErrNoInstance) {
		t.Fatalf("no matching tag: %v, want ErrNoInstance", err)
	}
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		inflight  int
		wantRetry int
	}{
		{0, 3},    // the minimum
		{10, 3},   // 20% of 10 is below the minimum
		{100, 26}, // 26/126 > 20% refuses the 27th
	} {
		t.Run(fmt.Sprint(tc.inflight), func(t *testing.T) {
			b, err := NewBudget(0, 0)
			if err != nil {
				t.Fatal(err)
			}
			for range tc.inflight {
				b.Begin()
			}
			got := 0
			var rel []func()
			for range 1000 {
				r, ok := b.Retry()
				if !ok {
					break
				}
				got++
				rel = append(rel, r)
			}
			if got != tc.wantRetry {
				t.Fatalf("%d retries granted with %d in flight, want %d", got, tc.inflight, tc.wantRetry)
			}
			rel[0]()
			if _, ok := b.Retry(); !ok {
				t.Fatal("a released permit was not granted again")
			}
		})
	}
	if _, err := NewBudget(2, 0); err == nil {
		t.Fatal("rate 2 accepted")
	}
}

func stat(b *Balancer, now time.Time, id string) Stats {
	for _, s := range b.Stats(now) {
		if s.ID == id {
			return s
		}
	}
	return Stats{}
}
