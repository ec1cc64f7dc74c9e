package gossip

import (
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Table is the membership state machine. Announcements enter through Apply,
// time through Tick; both return the events they caused. It does no I/O and
// reads no clock, so it is tested with synthetic times. It is not safe for
// concurrent use: the Service serialises calls.
//
// Transitions:
//
//	(absent)        --announce-->           Alive   EventJoined
//	Alive           --content changed-->    Alive   EventUpdated
//	Alive           --phi ≥ SuspectPhi-->   Suspect EventSuspect
//	Suspect         --announce-->           Alive   EventUpdated
//	Alive, Suspect  --phi ≥ FailPhi-->      Failed  EventFailed
//	Alive, Suspect, Failed --leave-->       Left    EventLeft
//	Failed, Left    --announce-->           Alive   EventJoined
//	Failed, Left    --Retention passed-->   (absent, no event)
//
// The table's own node (self) is never suspected or failed: it is the one
// member this node knows first-hand.
type Table struct {
	cfg     Config
	self    peer.ID
	det     *Detector
	members map[peer.ID]*entry
}

type entry struct {
	m     Member
	since time.Time // when it became Failed or Left; drives Retention
}

// NewTable returns an empty table for the node self, judging liveness with
// cfg's detector settings, thresholds and Retention. cfg need not name a
// Network.
func NewTable(cfg Config, self peer.ID) *Table {
	return &Table{
		cfg:     cfg,
		self:    self,
		det:     NewDetector(cfg),
		members: make(map[peer.ID]*entry),
	}
}

// Apply takes announcement a, received from (signed by) from at now. It
// returns ErrMalformed for an invalid announcement, ErrPeerMismatch when a
// names a peer other than from, and ErrStaleSeq when a.Seq is not above the
// seq held for the peer. Metadata is last-writer-wins by (seq, peer id):
// since only a peer may announce itself, the newer seq wins.
func (t *Table) Apply(a Announcement, from peer.ID, now time.Time) ([]Event, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if a.PeerID != from {
		return nil, fmt.Errorf("%w: names %s, sent by %s", ErrPeerMismatch, a.PeerID, from)
	}
	id := a.PeerID
	e, known := t.members[id]
	if known && a.Seq <= e.m.Seq {
		return nil, fmt.Errorf("%w: %s seq %d, have %d", ErrStaleSeq, id, a.Seq, e.m.Seq)
	}
	a = a.clone()

	if !known {
		e = &entry{m: Member{Announcement: a, LastSeen: now}}
		t.members[id] = e
		if a.Leaving {
			// Never known alive: remember the seq so older messages stay
			// stale, but there is nothing to announce.
			e.m.State, e.since = Left, now
			return nil, nil
		}
		e.m.State = Alive
		t.heartbeat(id, now)
		return t.events(EventJoined, e), nil
	}

	prev := e.m
	e.m.Announcement = a
	e.m.LastSeen = now
	if a.Leaving {
		t.det.Forget(id)
		e.m.Phi = 0
		if prev.State == Left {
			return nil, nil
		}
		e.m.State, e.since = Left, now
		return t.events(EventLeft, e), nil
	}
	switch prev.State {
	case Failed, Left:
		// Back from the dead (a restart, or a partition healed): its old
		// arrival history says nothing about the new incarnation.
		t.det.Forget(id)
		e.m.State = Alive
		t.heartbeat(id, now)
		return t.events(EventJoined, e), nil
	case Suspect:
		e.m.State = Alive
		t.heartbeat(id, now)
		return t.events(EventUpdated, e), nil
	default:
		t.heartbeat(id, now)
		if !sameContent(prev.Announcement, a) {
			return t.events(EventUpdated, e), nil
		}
		return nil, nil
	}
}

func (t *Table) heartbeat(id peer.ID, now time.Time) {
	if id == t.self {
		return
	}
	t.det.Heartbeat(id, now)
	t.members[id].m.Phi = t.det.Phi(id, now)
}

func (t *Table) events(k EventKind, e *entry) []Event {
	return []Event{{Kind: k, Member: e.m.clone()}}
}

// Tick evaluates the detector at now: live members whose phi reached
// SuspectPhi become suspect, those that reached FailPhi become failed (an
// alive member may go straight to failed if ticks are far apart), and
// failed or left members older than Retention are removed silently. Events
// come in peer id order.
func (t *Table) Tick(now time.Time) []Event {
	var evs []Event
	for _, id := range t.sortedIDs() {
		e := t.members[id]
		switch e.m.State {
		case Alive, Suspect:
			if id == t.self {
				continue
			}
			p := t.det.Phi(id, now)
			e.m.Phi = p
			switch {
			case p >= t.cfg.FailPhi:
				e.m.State, e.since = Failed, now
				t.det.Forget(id)
				evs = append(evs, t.events(EventFailed, e)...)
			case p >= t.cfg.SuspectPhi && e.m.State == Alive:
				e.m.State = Suspect
				evs = append(evs, t.events(EventSuspect, e)...)
			}
		case Failed, Left:
			if now.Sub(e.since) >= t.cfg.Retention {
				delete(t.members, id)
			}
		}
	}
	return evs
}

// Members returns every member, failed and left ones included, sorted by
// peer id. The result is a copy.
func (t *Table) Members() []Member {
	out := make([]Member, 0, len(t.members))
	for _, id := range t.sortedIDs() {
		out = append(out, t.members[id].m.clone())
	}
	return out
}

// Get returns the member p, if the table holds it.
func (t *Table) Get(p peer.ID) (Member, bool) {
	e, ok := t.members[p]
	if !ok {
		return Member{}, false
	}
	return e.m.clone(), true
}

// Seq returns the latest seq held for p, or 0.
func (t *Table) Seq(p peer.ID) uint64 {
	if e, ok := t.members[p]; ok {
		return e.m.Seq
	}
	return 0
}

// Counts returns how many members are in each state, indexed by State.
func (t *Table) Counts() [Left + 1]int {
	var c [Left + 1]int
	for _, e := range t.members {
		c[e.m.State]++
	}
	return c
}

func (t *Table) sortedIDs() []peer.ID {
	ids := make([]peer.ID, 0, len(t.members))
	for id := range t.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (m Member) clone() Member {
	m.Announcement = m.Announcement.clone()
	return m
}
