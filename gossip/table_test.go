package gossip

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

func ann(id peer.ID, seq uint64) Announcement {
	return Announcement{
		PeerID:   id,
		Addrs:    []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001")},
		APIAddr:  "127.0.0.1:8080",
		Capacity: 1 << 30,
		Tags:     map[string]string{"zone": "a"},
		Seq:      seq,
	}
}

func kinds(evs []Event) []EventKind {
	var ks []EventKind
	for _, e := range evs {
		ks = append(ks, e.Kind)
	}
	return ks
}

func wantEvents(t *testing.T, what string, evs []Event, want ...EventKind) {
	t.Helper()
	got := kinds(evs)
	if len(got) != len(want) {
		t.Fatalf("%s: events %v, want %v", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: events %v, want %v", what, got, want)
		}
	}
}

func mustApply(t *testing.T, tb *Table, a Announcement, now time.Time) []Event {
	t.Helper()
	evs, err := tb.Apply(a, a.PeerID, now)
	if err != nil {
		t.Fatalf("apply %s seq %d: %v", a.PeerID, a.Seq, err)
	}
	return evs
}

func state(t *testing.T, tb *Table, id peer.ID) State {
	t.Helper()
	m, ok := tb.Get(id)
	if !ok {
		t.Fatalf("%s not in table", id)
	}
	return m.State
}

func TestTableJoinUpdateAndRejections(t *testing.T) {
	ids := testPeers(t, 3)
	tb := NewTable(DefaultConfig(), ids[0])

	wantEvents(t, "first announcement", mustApply(t, tb, ann(ids[1], 10), t0), EventJoined)
	wantEvents(t, "same content, newer seq", mustApply(t, tb, ann(ids[1], 11), t0.Add(time.Second)))

	changed := ann(ids[1], 12)
	changed.Used = 42
	evs := mustApply(t, tb, changed, t0.Add(2*time.Second))
	wantEvents(t, "changed content", evs, EventUpdated)
	if evs[0].Member.Used != 42 || evs[0].Member.State != Alive {
		t.Fatalf("updated event carries %+v", evs[0].Member)
	}

	for _, seq := range []uint64{12, 11, 1} {
		if _, err := tb.Apply(ann(ids[1], seq), ids[1], t0.Add(3*time.Second)); !errors.Is(err, ErrStaleSeq) {
			t.Fatalf("seq %d after 12: err %v, want ErrStaleSeq", seq, err)
		}
	}
	if _, err := tb.Apply(ann(ids[1], 100), ids[2], t0); !errors.Is(err, ErrPeerMismatch) {
		t.Fatalf("announcement for another peer: err %v, want ErrPeerMismatch", err)
	}
	if got := tb.Seq(ids[1]); got != 12 {
		t.Fatalf("a rejected announcement moved seq to %d", got)
	}
	bad := ann(ids[2], 0)
	if _, err := tb.Apply(bad, ids[2], t0); !errors.Is(err, ErrMalformed) {
		t.Fatalf("seq 0: err %v, want ErrMalformed", err)
	}
	if _, ok := tb.Get(ids[2]); ok {
		t.Fatal("a malformed announcement entered the table")
	}
}

func TestTableLastWriterWins(t *testing.T) {
	ids := testPeers(t, 2)
	tb := NewTable(DefaultConfig(), ids[0])
	newer := ann(ids[1], 20)
	newer.Tags = map[string]string{"v": "new"}
	newer.Services = []string{"photos"}
	older := ann(ids[1], 19)
	older.Tags = map[string]string{"v": "old"}

	mustApply(t, tb, newer, t0)
	if _, err := tb.Apply(older, ids[1], t0.Add(time.Millisecond)); !errors.Is(err, ErrStaleSeq) {
		t.Fatalf("older arriving late: err %v, want ErrStaleSeq", err)
	}
	m, _ := tb.Get(ids[1])
	if m.Tags["v"] != "new" || len(m.Services) != 1 {
		t.Fatalf("metadata %v %v; the newer seq must win", m.Tags, m.Services)
	}

	// The table holds copies: callers mutating what they passed or got
	// change nothing.
	newer.Tags["v"] = "mutated"
	m.Tags["v"] = "mutated"
	m.Services[0] = "mutated"
	if m2, _ := tb.Get(ids[1]); m2.Tags["v"] != "new" || m2.Services[0] != "photos" {
		t.Fatalf("table state aliased: %v %v", m2.Tags, m2.Services)
	}
}

// beat applies heartbeats from ids every interval over [from, to) and ticks
// the table every tick, returning all events.
func beat(t *testing.T, tb *Table, ids []peer.ID, seq *uint64, from, to time.Time, interval, tick time.Duration) []Event {
	t.Helper()
	var evs []Event
	nextBeat := from
	for now := from; now.Before(to); now = now.Add(tick) {
		if !now.Before(nextBeat) {
			for _, id := range ids {
				*seq++
				evs = append(evs, mustApply(t, tb, ann(id, *seq), now)...)
			}
			nextBeat = nextBeat.Add(interval)
		}
		evs = append(evs, tb.Tick(now)...)
	}
	return evs
}

func TestTableSuspectFailAndRecover(t *testing.T) {
	cfg := DefaultConfig()
	ids := testPeers(t, 3)
	self, a, b := ids[0], ids[1], ids[2]
	tb := NewTable(cfg, self)
	var seq uint64

	// Steady heartbeats from everyone: joins, then silence from the table.
	evs := beat(t, tb, ids, &seq, t0, t0.Add(time.Minute), cfg.HeartbeatInterval, cfg.TickInterval)
	wantEvents(t, "steady minute", evs, EventJoined, EventJoined, EventJoined)
	lastBeat := t0.Add(time.Minute - cfg.HeartbeatInterval)

	// a stops; self and b continue. a turns suspect, then failed, at the
	// times the config predicts (to within one tick).
	var suspectAt, failAt time.Time
	now := t0.Add(time.Minute)
	nextBeat := now
	for ; now.Before(lastBeat.Add(3 * cfg.FailAfter())); now = now.Add(cfg.TickInterval) {
		if !now.Before(nextBeat) {
			for _, id := range []peer.ID{self, b} {
				seq++
				wantEvents(t, "live peer heartbeat", mustApply(t, tb, ann(id, seq), now))
			}
			nextBeat = nextBeat.Add(cfg.HeartbeatInterval)
		}
		for _, ev := range tb.Tick(now) {
			if ev.Member.PeerID != a {
				t.Fatalf("unexpected %s for %s", ev.Kind, ev.Member.PeerID)
			}
			switch ev.Kind {
			case EventSuspect:
				suspectAt = now
				if ev.Member.State != Suspect || ev.Member.Phi < cfg.SuspectPhi {
					t.Fatalf("suspect event with %+v", ev.Member)
				}
			case EventFailed:
				failAt = now
			default:
				t.Fatalf("unexpected %s", ev.Kind)
			}
		}
	}
	within := func(got time.Time, want time.Duration) bool {
		d := got.Sub(lastBeat)
		return d >= want && d <= want+cfg.TickInterval
	}
	if !within(suspectAt, cfg.SuspectAfter()) {
		t.Errorf("suspect %s after last beat, want %s (+1 tick)", suspectAt.Sub(lastBeat), cfg.SuspectAfter())
	}
	if !within(failAt, cfg.FailAfter()) {
		t.Errorf("failed %s after last beat, want %s (+1 tick)", failAt.Sub(lastBeat), cfg.FailAfter())
	}
	if s := state(t, tb, a); s != Failed {
		t.Fatalf("a is %s, want failed", s)
	}
	if s := state(t, tb, self); s != Alive {
		t.Fatalf("self is %s", s)
	}

	// a comes back: joined again, with a fresh detector history.
	seq++
	wantEvents(t, "failed member heard again", mustApply(t, tb, ann(a, seq), now), EventJoined)
	if s := state(t, tb, a); s != Alive {
		t.Fatalf("a is %s after rejoining", s)
	}

	// A suspect member heard again is updated back to alive.
	for tb.Tick(now); state(t, tb, a) == Alive; now = now.Add(cfg.TickInterval) {
		tb.Tick(now)
	}
	if s := state(t, tb, a); s != Suspect {
		t.Fatalf("a is %s, want suspect", s)
	}
	seq++
	evs = mustApply(t, tb, ann(a, seq), now)
	wantEvents(t, "suspect member heard again", evs, EventUpdated)
	if evs[0].Member.State != Alive {
		t.Fatalf("recovered member is %s", evs[0].Member.State)
	}
}

func TestTableSelfIsNeverSuspected(t *testing.T) {
	cfg := DefaultConfig()
	self := testPeers(t, 1)[0]
	tb := NewTable(cfg, self)
	mustApply(t, tb, ann(self, 1), t0)
	if evs := tb.Tick(t0.Add(time.Hour)); len(evs) != 0 {
		t.Fatalf("self silent for an hour produced %v", kinds(evs))
	}
	if s := state(t, tb, self); s != Alive {
		t.Fatalf("self is %s", s)
	}
}

func TestTableLeaveAndRetention(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Retention = time.Minute
	ids := testPeers(t, 4)
	self, a, b, c := ids[0], ids[1], ids[2], ids[3]
	tb := NewTable(cfg, self)
	mustApply(t, tb, ann(self, 1), t0)
	mustApply(t, tb, ann(a, 1), t0)
	mustApply(t, tb, ann(b, 1), t0)

	leave := ann(a, 2)
	leave.Leaving = true
	evs := mustApply(t, tb, leave, t0.Add(time.Second))
	wantEvents(t, "leave", evs, EventLeft)
	if evs[0].Member.State != Left {
		t.Fatalf("left event with state %s", evs[0].Member.State)
	}
	leave.Seq = 3
	wantEvents(t, "second leave", mustApply(t, tb, leave, t0.Add(2*time.Second)))
	if _, err := tb.Apply(ann(a, 2), a, t0.Add(2*time.Second)); !errors.Is(err, ErrStaleSeq) {
		t.Fatalf("old heartbeat after leave: %v", err)
	}

	// A left member is never failed by the detector.
	var all []Event
	for now := t0; now.Before(t0.Add(50 * time.Second)); now = now.Add(cfg.TickInterval) {
		mustApply(t, tb, ann(self, uint64(now.Sub(t0)/time.Millisecond)+10), now) // self keeps its own entry fresh
		all = append(all, tb.Tick(now)...)
	}
	for _, ev := range all {
		if ev.Member.PeerID == a {
			t.Fatalf("left member got %s", ev.Kind)
		}
	}
	if s := state(t, tb, b); s != Failed {
		t.Fatalf("silent b is %s, want failed", s)
	}

	// An unknown peer announcing a leave enters as left, silently.
	cl := ann(c, 5)
	cl.Leaving = true
	wantEvents(t, "leave of an unknown peer", mustApply(t, tb, cl, t0.Add(50*time.Second)))

	// Past Retention, failed and left members are dropped; self stays.
	tb.Tick(t0.Add(10 * time.Minute))
	if ms := tb.Members(); len(ms) != 1 || ms[0].PeerID != self {
		t.Fatalf("after retention the table holds %d members", len(ms))
	}

	// A restarted peer (higher seq) joins again.
	wantEvents(t, "restart after removal", mustApply(t, tb, ann(a, 10), t0.Add(11*time.Minute)), EventJoined)
}

func TestTableMembersSortedAndCounted(t *testing.T) {
	ids := testPeers(t, 8)
	tb := NewTable(DefaultConfig(), ids[0])
	for i := len(ids) - 1; i >= 0; i-- {
		mustApply(t, tb, ann(ids[i], 1), t0)
	}
	ms := tb.Members()
	if len(ms) != len(ids) {
		t.Fatalf("%d members, want %d", len(ms), len(ids))
	}
	for i := 1; i < len(ms); i++ {
		if ms[i-1].PeerID >= ms[i].PeerID {
			t.Fatalf("members not sorted at %d", i)
		}
	}
	if c := tb.Counts(); c[Alive] != len(ids) || c[Suspect]+c[Failed]+c[Left] != 0 {
		t.Fatalf("counts %v", c)
	}
}

func TestStateAndEventStrings(t *testing.T) {
	for s, want := range map[State]string{Alive: "alive", Suspect: "suspect", Failed: "failed", Left: "left"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
	for k, want := range map[EventKind]string{EventJoined: "joined", EventUpdated: "updated", EventSuspect: "suspect", EventFailed: "failed", EventLeft: "left"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(k), k.String(), want)
		}
	}
	if !Suspect.Live() || !Alive.Live() || Failed.Live() || Left.Live() {
		t.Error("Live() must hold for alive and suspect only")
	}
}
