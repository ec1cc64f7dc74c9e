package admission

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Config configures a Gate (and the Watcher that runs one).
type Config struct {
	// Open admits every peer, as on a chain whose genesis registers no node
	// (see GenesisRegistersNodes). Default false.
	Open bool
	// Retention is how long a peer whose admission ended stays in place,
	// as gone since that moment, so that repair treats it like a member that
	// left and waits out its own grace before moving its blocks. It must be
	// longer than the repair grace. Default 10m.
	Retention time.Duration
	// JailGrace is how long a registered validator stays in placement once
	// the chain jails it (for missing blocks): a jailed validator still has
	// its stake bonded, and a node down for a minute or two, then restarted,
	// comes back to its own data. Jailed for longer, it leaves placement
	// (until it is unjailed). 0 ends admission at once. Default 10m, the
	// default jail time.
	JailGrace time.Duration
}

// DefaultConfig is a closed gate with a 10-minute retention and jail grace.
func DefaultConfig() Config { return Config{Retention: 10 * time.Minute, JailGrace: 10 * time.Minute} }

// Validate names the first field out of range.
func (c Config) Validate() error {
	if c.Retention <= 0 {
		return fmt.Errorf("admission: config: retention must be > 0, got %s", c.Retention)
	}
	if c.JailGrace < 0 {
		return fmt.Errorf("admission: config: jail grace must be >= 0, got %s", c.JailGrace)
	}
	return nil
}

// Placement says what placement does with a peer.
type Placement int

const (
	// Out: the peer is not admitted; its announcements are those of an
	// observer.
	Out Placement = iota
	// In: the peer is admitted (or the chain is open).
	In
	// Ended: the peer's admission ended recently; placement keeps it as a
	// member that is gone since then, so that repair applies its grace.
	Ended
)

// String returns "out", "in" or "ended".
func (p Placement) String() string {
	switch p {
	case Out:
		return "out"
	case In:
		return "in"
	case Ended:
		return "ended"
	}
	return fmt.Sprintf("placement(%d)", int(p))
}

// Decision is what Place answers: the placement and, for Ended, since when.
type Decision struct {
	Placement Placement
	// Since is when the admission ended (Ended only).
	Since time.Time
}

// Change is what applying a registry changed.
type Change struct {
	// Height is the registry's height.
	Height int64
	// Admitted are the peers admitted now that were not before, sorted.
	Admitted []peer.ID
	// Ended are the peers whose admission ended, sorted.
	Ended []peer.ID
}

// Empty reports whether nothing changed.
func (c Change) Empty() bool { return len(c.Admitted) == 0 && len(c.Ended) == 0 }

// Gate is the admission state machine. Registries enter through Apply and
// time through Tick, both returning what changed; Place and Admitted read
// the state. It does no I/O and reads no clock. It is not safe for
// concurrent use.
//
// A peer is admitted while its registration is active, or jailed for less
// than JailGrace.
type Gate struct {
	cfg     Config
	reg     Registry
	applied bool
	in      map[peer.ID]bool      // admitted as of the last Apply or Tick
	jailed  map[peer.ID]time.Time // when each jailed peer was first seen jailed
	ended   map[peer.ID]time.Time // when each peer's admission ended
}

// NewGate returns a gate that has seen no registry yet: on a closed chain
// every peer is Out until the first Apply.
func NewGate(cfg Config) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Gate{
		cfg: cfg, reg: NewRegistry(0, nil), in: map[peer.ID]bool{},
		jailed: map[peer.ID]time.Time{}, ended: map[peer.ID]time.Time{},
	}, nil
}

// Open reports whether every peer is admitted.
func (g *Gate) Open() bool { return g.cfg.Open }

// Registry is the registry last applied.
func (g *Gate) Registry() Registry { return g.reg }

// Apply takes the registry read at now and returns what changed since the
// last one. A registry older than the one held is ignored (a late answer).
// On an open chain nothing ever changes: every peer is already In.
func (g *Gate) Apply(reg Registry, now time.Time) Change {
	if g.applied && reg.height < g.reg.height {
		return Change{Height: g.reg.height}
	}
	g.reg = reg
	g.applied = true
	for id := range g.jailed {
		if n, ok := reg.Node(id); !ok || n.Status != StatusJailed {
			delete(g.jailed, id)
		}
	}
	for id, n := range reg.nodes {
		if n.Status == StatusJailed {
			if _, ok := g.jailed[id]; !ok {
				g.jailed[id] = now
			}
		}
	}
	return g.Tick(now)
}

// Tick re-evaluates admission at now against the registry held, for the
// jail grace runs on time rather than on the chain: a peer jailed for
// longer than JailGrace leaves placement at the first Tick past it.
func (g *Gate) Tick(now time.Time) Change {
	ch := Change{Height: g.reg.height}
	for id, t := range g.ended {
		if now.Sub(t) >= g.cfg.Retention {
			delete(g.ended, id)
		}
	}
	if g.cfg.Open {
		return ch
	}
	next := map[peer.ID]bool{}
	for id, n := range g.reg.nodes {
		if n.Admitted() {
			next[id] = true
		} else if t, ok := g.jailed[id]; ok && now.Sub(t) < g.cfg.JailGrace {
			// Jailed lately (or first seen jailed lately, by a node that
			// just started): it keeps its place for the grace.
			next[id] = true
		}
	}
	for id := range next {
		if !g.in[id] {
			ch.Admitted = append(ch.Admitted, id)
			delete(g.ended, id)
		}
	}
	for id := range g.in {
		if !next[id] {
			ch.Ended = append(ch.Ended, id)
			g.ended[id] = now
		}
	}
	g.in = next
	slices.Sort(ch.Admitted)
	slices.Sort(ch.Ended)
	return ch
}

// Place says what placement does with p at now.
func (g *Gate) Place(p peer.ID, now time.Time) Decision {
	if g.Admitted(p) {
		return Decision{Placement: In}
	}
	if t, ok := g.ended[p]; ok && now.Sub(t) < g.cfg.Retention {
		return Decision{Placement: Ended, Since: t}
	}
	return Decision{Placement: Out}
}

// Admitted reports whether p takes part in placement (as of the last Apply
// or Tick).
func (g *Gate) Admitted(p peer.ID) bool { return g.cfg.Open || g.in[p] }

// AdmittedCount is the number of admitted peers (0 on an open chain).
func (g *Gate) AdmittedCount() int { return len(g.in) }
