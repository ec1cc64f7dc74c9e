package peerguard

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/testutil"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newGuard(t *testing.T, mod func(*Config)) *Guard {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// strikes applies violations by p at the offsets given and returns the
// verdict of each.
func strikes(g *Guard, p peer.ID, at ...time.Duration) []Verdict {
	var out []Verdict
	for _, d := range at {
		out = append(out, g.Strike(p, "test", t0.Add(d)))
	}
	return out
}

func TestStrikesWithinWindow(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name     string
		at       []time.Duration
		newBanAt int // index of the strike that bans, -1 for none
	}{
		{"three at once", []time.Duration{0, 0, 0}, 2},
		{"three within the minute", []time.Duration{0, 30 * s, 59 * s}, 2},
		{"third just outside the window of the first", []time.Duration{0, 30 * s, 60 * s}, -1},
		{"sliding: first expires, fourth bans", []time.Duration{0, 30 * s, 60 * s, 61 * s}, 3},
		{"spread out never bans", []time.Duration{0, 61 * s, 122 * s, 183 * s}, -1},
		{"two only", []time.Duration{0, s}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, nil)
			p := testutil.PeerID(t)
			vs := strikes(g, p, tc.at...)
			for i, v := range vs {
				if v.NewBan != (i == tc.newBanAt) {
					t.Fatalf("strike %d at %s: NewBan %v", i, tc.at[i], v.NewBan)
				}
			}
			last := t0.Add(tc.at[len(tc.at)-1])
			if want := tc.newBanAt >= 0; g.Banned(p, last) != want {
				t.Fatalf("Banned = %v, want %v", !want, want)
			}
			if tc.newBanAt >= 0 {
				if want := t0.Add(tc.at[tc.newBanAt]).Add(30 * s); !vs[tc.newBanAt].Until.Equal(want) {
					t.Fatalf("until %s, want %s", vs[tc.newBanAt].Until, want)
				}
			}
		})
	}
}

func TestBanEndsAndDoublesUpToCap(t *testing.T) {
	g := newGuard(t, nil)
	p := testutil.PeerID(t)
	now := t0
	var got []time.Duration
	for range 8 {
		vs := strikes(g, p, now.Sub(t0), now.Sub(t0), now.Sub(t0))
		v := vs[2]
		if !v.NewBan {
			t.Fatalf("third strike at %s did not ban: %+v", now, v)
		}
		got = append(got, v.Until.Sub(now))
		if !g.Banned(p, v.Until.Add(-time.Nanosecond)) || g.Banned(p, v.Until) {
			t.Fatalf("ban does not end exactly at %s", v.Until)
		}
		// A violation while banned neither extends the ban nor counts.
		if w := g.Strike(p, "late", now.Add(time.Second)); !w.Banned || w.NewBan || !w.Until.Equal(v.Until) {
			t.Fatalf("strike while banned: %+v", w)
		}
		now = v.Until
	}
	m := time.Minute
	want := []time.Duration{30 * time.Second, m, 2 * m, 4 * m, 8 * m, 10 * m, 10 * m, 10 * m}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ban lengths %v, want %v", got, want)
	}
}

func TestForgottenAfterQuiet(t *testing.T) {
	g := newGuard(t, nil)
	p := testutil.PeerID(t)
	v := strikes(g, p, 0, 0, 0)[2]
	if !v.NewBan {
		t.Fatal("no ban")
	}
	// Just before Forget after the ban ended: remembered, the next ban doubles.
	again := v.Until.Add(time.Hour - time.Second)
	v2 := strikes(g, p, again.Sub(t0), again.Sub(t0), again.Sub(t0))[2]
	if d := v2.Until.Sub(again); d != time.Minute {
		t.Fatalf("second ban within Forget lasts %s, want 1m", d)
	}
	// Forget after that ban ended: the next ban is a first one.
	later := v2.Until.Add(time.Hour)
	v3 := strikes(g, p, later.Sub(t0), later.Sub(t0), later.Sub(t0))[2]
	if d := v3.Until.Sub(later); d != 30*time.Second {
		t.Fatalf("ban after a quiet hour lasts %s, want 30s", d)
	}
	// A single old strike is forgotten too (and counted no more).
	q := testutil.PeerID(t)
	g.Strike(q, "x", t0)
	if g.Strike(q, "x", t0.Add(2*time.Hour)).Strikes != 1 {
		t.Fatal("an old strike still counts")
	}
}

func TestTableBounded(t *testing.T) {
	g := newGuard(t, func(c *Config) { c.MaxPeers = 8 })
	// Two banned peers, then a flood of fresh ids with one strike each.
	banned := []peer.ID{testutil.PeerID(t), testutil.PeerID(t)}
	for _, p := range banned {
		strikes(g, p, 0, 0, 0)
	}
	var flood []peer.ID
	for i := range 1000 {
		p := testutil.PeerID(t)
		flood = append(flood, p)
		g.Strike(p, "sybil", t0.Add(time.Duration(i)*time.Millisecond))
		if g.Peers() > 8 {
			t.Fatalf("table grew to %d entries, cap 8", g.Peers())
		}
	}
	now := t0.Add(time.Second)
	for _, p := range banned {
		if !g.Banned(p, now) {
			t.Fatal("the flood evicted a banned peer while non-banned entries were there")
		}
	}
	// The newest of the flood are the ones kept: a repeat offender among
	// them is banned on schedule.
	last := flood[len(flood)-1]
	if v := strikes(g, last, time.Second, time.Second); !v[1].NewBan {
		t.Fatal("the most recent flood entry lost its strike")
	}
	// A table full of bans evicts the ban that ends first.
	g2 := newGuard(t, func(c *Config) { c.MaxPeers = 2 })
	a, b, c := testutil.PeerID(t), testutil.PeerID(t), testutil.PeerID(t)
	strikes(g2, a, 0, 0, 0)
	strikes(g2, b, time.Second, time.Second, time.Second)
	strikes(g2, c, 2*time.Second, 2*time.Second, 2*time.Second)
	now = t0.Add(3 * time.Second)
	if g2.Peers() != 2 || g2.Banned(a, now) || !g2.Banned(b, now) || !g2.Banned(c, now) {
		t.Fatalf("full of bans: %d peers, banned a %v b %v c %v", g2.Peers(), g2.Banned(a, now), g2.Banned(b, now), g2.Banned(c, now))
	}
}

func TestIPBans(t *testing.T) {
	hostile := netip.MustParseAddr("10.1.0.50")
	nat := netip.MustParseAddr("10.1.0.60")
	for _, tc := range []struct {
		name    string
		ip      netip.Addr
		honest  bool // an unbanned peer connected from the same address
		refused bool
	}{
		{"non-loopback address is banned", hostile, false, true},
		{"ipv4-mapped form of it too", hostile, false, true},
		{"loopback v4 never", netip.MustParseAddr("127.0.0.1"), false, false},
		{"loopback v6 never", netip.IPv6Loopback(), false, false},
		{"loopback 127.0.0.2 never", netip.MustParseAddr("127.0.0.2"), false, false},
		{"shared with a connected honest peer: not refused", nat, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGuard(t, nil)
			p, h := testutil.PeerID(t), testutil.PeerID(t)
			g.Connected(p, tc.ip)
			if tc.honest {
				g.Connected(h, tc.ip)
			}
			v := strikes(g, p, 0, 0, 0)[2]
			if !v.NewBan {
				t.Fatal("no ban")
			}
			probe := tc.ip
			if tc.name == "ipv4-mapped form of it too" {
				probe = netip.AddrFrom16(tc.ip.As16())
			}
			now := t0.Add(time.Second)
			if got := g.IPRefused(probe, now); got != tc.refused {
				t.Fatalf("IPRefused(%s) = %v, want %v", probe, got, tc.refused)
			}
			if tc.refused != (len(v.IPs) == 1) && !tc.honest {
				t.Fatalf("verdict IPs %v", v.IPs)
			}
			if tc.honest {
				// Once the honest peer leaves, the address ban applies.
				g.Disconnected(h, tc.ip)
				if !g.IPRefused(tc.ip, now) {
					t.Fatal("address not refused after the honest peer left")
				}
			}
			if g.IPRefused(tc.ip, v.Until) {
				t.Fatal("address still refused when the ban ended")
			}
		})
	}
	// An address is banned only with a peer connected from it.
	g := newGuard(t, nil)
	p := testutil.PeerID(t)
	strikes(g, p, 0, 0, 0)
	if g.IPRefused(hostile, t0) || g.BannedIPs() != 0 {
		t.Fatal("an address the peer was not connected from is banned")
	}
}

func TestIPTableBounded(t *testing.T) {
	g := newGuard(t, func(c *Config) { c.MaxPeers = 4 })
	for i := range 50 {
		p := testutil.PeerID(t)
		g.Connected(p, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		strikes(g, p, time.Duration(i)*time.Second, time.Duration(i)*time.Second, time.Duration(i)*time.Second)
		if g.BannedIPs() > 4 || g.Peers() > 4 {
			t.Fatalf("tables grew to %d addresses, %d peers; cap 4", g.BannedIPs(), g.Peers())
		}
	}
	// The latest bans are the ones kept.
	if !g.IPRefused(netip.AddrFrom4([4]byte{10, 0, 0, 49}), t0.Add(50*time.Second)) {
		t.Fatal("the latest address ban was evicted")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Strikes", func(c *Config) { c.Strikes = 0 }},
		{"Window", func(c *Config) { c.Window = 0 }},
		{"Ban", func(c *Config) { c.Ban = -time.Second }},
		{"MaxBan", func(c *Config) { c.MaxBan = time.Second }},
		{"Forget", func(c *Config) { c.Forget = time.Second }},
		{"MaxPeers", func(c *Config) { c.MaxPeers = 0 }},
	} {
		cfg := DefaultConfig()
		tc.mod(&cfg)
		_, err := New(cfg)
		if !errors.Is(err, xnode.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
	if _, err := NewGater(DefaultConfig(), nil, nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("nil logger: %v", err)
	}
}
