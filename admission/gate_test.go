package admission

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/internal/testutil"
)

func peers(t *testing.T, n int) []peer.ID {
	t.Helper()
	out := make([]peer.ID, n)
	for i := range out {
		out[i] = testutil.PeerID(t)
	}
	return out
}

func TestGatePlace(t *testing.T) {
	p := peers(t, 6)
	registry := NewRegistry(7, []Node{
		{PeerID: p[0], Stake: 10, Status: "active"},                    // a registered node
		{PeerID: p[1], Stake: 1000, Validator: true, Status: "active"}, // a validator counts
		{PeerID: p[2], Stake: 0, Status: "unbonding"},                  // unbonded
		{PeerID: p[3], Stake: 1000, Validator: true, Status: "jailed"},
		{PeerID: p[4], Stake: 1000, Validator: true, Status: "tombstoned"},
		// p[5] never registered
	})
	now := time.Unix(1000, 0)
	for _, tc := range []struct {
		name      string
		open      bool
		jailGrace time.Duration
		peer      peer.ID
		want      Placement
	}{
		{"registered", false, time.Minute, p[0], In},
		{"validator", false, time.Minute, p[1], In},
		{"unbonded", false, time.Minute, p[2], Out},
		{"jailed lately", false, time.Minute, p[3], In},
		{"jailed, no grace", false, 0, p[3], Out},
		{"tombstoned", false, time.Minute, p[4], Out},
		{"unregistered", false, time.Minute, p[5], Out},
		{"old genesis: unregistered", true, time.Minute, p[5], In},
		{"old genesis: jailed", true, 0, p[3], In},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Open, cfg.JailGrace = tc.open, tc.jailGrace
			g, err := NewGate(cfg)
			if err != nil {
				t.Fatal(err)
			}
			g.Apply(registry, now)
			if got := g.Place(tc.peer, now).Placement; got != tc.want {
				t.Fatalf("Place = %s, want %s", got, tc.want)
			}
			if got := g.Admitted(tc.peer); got != (tc.want == In) {
				t.Fatalf("Admitted = %t, want %t", got, tc.want == In)
			}
		})
	}
}

func TestGateBeforeFirstRegistry(t *testing.T) {
	p := testutil.PeerID(t)
	closed, _ := NewGate(DefaultConfig())
	if closed.Place(p, time.Now()).Placement != Out {
		t.Fatal("a closed gate admitted a peer before it saw the chain's node list")
	}
	cfg := DefaultConfig()
	cfg.Open = true
	open, _ := NewGate(cfg)
	if open.Place(p, time.Now()).Placement != In {
		t.Fatal("an open gate refused a peer")
	}
}

// TestGateTransitions walks one peer through registration, the end of its
// admission (kept in place as gone for the retention), and a new
// registration, and checks each Change.
func TestGateTransitions(t *testing.T) {
	p := peers(t, 3)
	cfg := DefaultConfig()
	cfg.Retention, cfg.JailGrace = time.Minute, 20*time.Second
	g, err := NewGate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(5000, 0)
	active := func(ids ...peer.ID) []Node {
		var ns []Node
		for _, id := range ids {
			ns = append(ns, Node{PeerID: id, Stake: 1, Status: StatusActive})
		}
		return ns
	}
	type step struct {
		name         string
		height       int64
		nodes        []Node
		at           time.Duration
		wantAdmitted []peer.ID
		wantEnded    []peer.ID
		check        peer.ID
		want         Placement
	}
	sorted := func(ids ...peer.ID) []peer.ID { s := slices.Clone(ids); slices.Sort(s); return s }
	steps := []step{
		{"genesis", 1, active(p[0], p[1]), 0, sorted(p[0], p[1]), nil, p[2], Out},
		{"p2 registers", 2, active(p[0], p[1], p[2]), time.Second, []peer.ID{p[2]}, nil, p[2], In},
		{"same list again", 3, active(p[0], p[1], p[2]), 2 * time.Second, nil, nil, p[2], In},
		{"a late answer is ignored", 1, active(p[0]), 3 * time.Second, nil, nil, p[1], In},
		{"p1 unbonds", 4, append(active(p[0], p[2]), Node{PeerID: p[1], Status: "unbonding"}), 4 * time.Second, nil, []peer.ID{p[1]}, p[1], Ended},
		{"p1 still in place", 5, append(active(p[0], p[2]), Node{PeerID: p[1], Status: "unbonding"}), 30 * time.Second, nil, nil, p[1], Ended},
		{"p1 out after retention", 6, active(p[0], p[2]), 4*time.Second + time.Minute, nil, nil, p[1], Out},
		{"p1 registers again", 7, active(p[0], p[1], p[2]), 2 * time.Minute, []peer.ID{p[1]}, nil, p[1], In},
		{"p2 jailed: in place for the jail grace", 8, append(active(p[0], p[1]), Node{PeerID: p[2], Validator: true, Status: "jailed"}), 3 * time.Minute, nil, nil, p[2], In},
		{"p2 unjailed", 9, active(p[0], p[1], p[2]), 3*time.Minute + time.Second, nil, nil, p[2], In},
		{"p2 jailed again", 10, append(active(p[0], p[1]), Node{PeerID: p[2], Validator: true, Status: "jailed"}), 4 * time.Minute, nil, nil, p[2], In},
		{"p2 jailed past the grace", 11, append(active(p[0], p[1]), Node{PeerID: p[2], Validator: true, Status: "jailed"}), 4*time.Minute + 30*time.Second, nil, []peer.ID{p[2]}, p[2], Ended},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		ch := g.Apply(NewRegistry(s.height, s.nodes), now)
		if !slices.Equal(ch.Admitted, s.wantAdmitted) || !slices.Equal(ch.Ended, s.wantEnded) {
			t.Fatalf("%s: change admitted %v ended %v, want %v and %v", s.name, ch.Admitted, ch.Ended, s.wantAdmitted, s.wantEnded)
		}
		d := g.Place(s.check, now)
		if d.Placement != s.want {
			t.Fatalf("%s: Place = %s, want %s", s.name, d.Placement, s.want)
		}
		if d.Placement == Ended && !d.Since.Equal(t0.Add(4*time.Second)) && !d.Since.Equal(t0.Add(4*time.Minute+30*time.Second)) {
			t.Fatalf("%s: ended since %s", s.name, d.Since)
		}
	}
}

func TestGateOpenNeverChanges(t *testing.T) {
	p := peers(t, 2)
	cfg := DefaultConfig()
	cfg.Open = true
	g, _ := NewGate(cfg)
	if ch := g.Apply(NewRegistry(1, []Node{{PeerID: p[0], Status: StatusActive}}), time.Now()); !ch.Empty() {
		t.Fatalf("an open gate reported %+v", ch)
	}
	if g.Place(p[1], time.Now()).Placement != In {
		t.Fatal("an open gate left out an unregistered peer")
	}
}

func TestConfigValidate(t *testing.T) {
	if _, err := NewGate(Config{}); err == nil || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("zero retention: %v", err)
	}
	if _, err := NewGate(Config{Retention: time.Minute, JailGrace: -1}); err == nil || !strings.Contains(err.Error(), "jail grace") {
		t.Fatalf("negative jail grace: %v", err)
	}
}

// TestGateJailGraceRunsOnTime: with the same registry, a Tick past the jail
// grace ends the jailed peer's admission.
func TestGateJailGraceRunsOnTime(t *testing.T) {
	p := peers(t, 2)
	cfg := DefaultConfig()
	cfg.JailGrace = time.Minute
	g, _ := NewGate(cfg)
	t0 := time.Unix(100, 0)
	g.Apply(NewRegistry(1, []Node{{PeerID: p[0], Status: StatusActive}, {PeerID: p[1], Validator: true, Status: StatusActive}}), t0)
	g.Apply(NewRegistry(2, []Node{{PeerID: p[0], Status: StatusActive}, {PeerID: p[1], Validator: true, Status: StatusJailed}}), t0.Add(time.Second))
	if ch := g.Tick(t0.Add(30 * time.Second)); !ch.Empty() || !g.Admitted(p[1]) {
		t.Fatalf("within the grace: %+v, admitted %t", ch, g.Admitted(p[1]))
	}
	ch := g.Tick(t0.Add(time.Minute + time.Second))
	if len(ch.Ended) != 1 || ch.Ended[0] != p[1] || g.Admitted(p[1]) || g.Place(p[1], t0.Add(time.Minute+time.Second)).Placement != Ended {
		t.Fatalf("past the grace: %+v", ch)
	}
}

func TestParseNodes(t *testing.T) {
	p := testutil.PeerID(t)
	good := `[{"peer_id":"` + p.String() + `","address":"xnode1x","stake":5,"validator":true,"status":"active"}]`
	ns, err := ParseNodes([]byte(good))
	if err != nil || len(ns) != 1 || ns[0].PeerID != p || ns[0].Stake != 5 || !ns[0].Validator || !ns[0].Admitted() {
		t.Fatalf("ParseNodes = %+v, %v", ns, err)
	}
	for _, empty := range []string{"", "null", " [] "} {
		if ns, err := ParseNodes([]byte(empty)); err != nil || len(ns) != 0 {
			t.Fatalf("ParseNodes(%q) = %v, %v", empty, ns, err)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{`{"peer_id":"x"}`, "node list"},
		{`[{"peer_id":"not-a-peer","status":"active"}]`, `nodes[0]: peer id "not-a-peer"`},
		{`[{"peer_id":"` + p.String() + `"}]`, "no status"},
		{`[{"peer_id":"` + p.String() + `","status":"active"},{"peer_id":"` + p.String() + `","status":"active"}]`, "listed twice"},
	} {
		_, err := ParseNodes([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("ParseNodes(%s) = %v, want an error naming %q", tc.in, err, tc.want)
		}
	}
}

func TestGenesisRegistersNodes(t *testing.T) {
	for _, tc := range []struct {
		name, state string
		want        bool
		err         bool
	}{
		{"none", ``, false, false},
		{"old genesis", `{"params":{"replication_factor":3},"admins":[]}`, false, false},
		{"accounts only", `{"accounts":[{"address":"xnode1x","balance":5}]}`, false, false},
		{"validators without peer ids", `{"validators":[{"address":"a","stake":1}]}`, false, false},
		{"validators", `{"validators":[{"address":"a","peer_id":"12D3KooW","stake":1}]}`, true, false},
		{"nodes", `{"nodes":[{"address":"a","peer_id":"12D3KooW","stake":1}]}`, true, false},
		{"garbage", `{"nodes":`, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := GenesisRegistersNodes([]byte(tc.state))
			if (err != nil) != tc.err || got != tc.want {
				t.Fatalf("GenesisRegistersNodes = %t, %v; want %t, error %t", got, err, tc.want, tc.err)
			}
		})
	}
}
