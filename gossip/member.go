package gossip

import (
	"fmt"
	"time"
)

// State is a member's liveness as seen by this node.
type State int

// Member states. Alive and Suspect members are live: placement counts them,
// because a suspect member may still hold data and a short pause must not
// move data. Failed and Left members are not.
const (
	// Alive: heartbeats arrive as expected.
	Alive State = iota
	// Suspect: silent for longer than usual (phi ≥ SuspectPhi).
	Suspect
	// Failed: silent for so long that the detector gave up (phi ≥ FailPhi).
	Failed
	// Left: the member announced a graceful leave.
	Left
)

// String returns "alive", "suspect", "failed" or "left".
func (s State) String() string {
	switch s {
	case Alive:
		return "alive"
	case Suspect:
		return "suspect"
	case Failed:
		return "failed"
	case Left:
		return "left"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Live reports whether the state counts for placement: Alive or Suspect.
func (s State) Live() bool { return s == Alive || s == Suspect }

// Member is one row of the membership table: the latest announcement of a
// peer and this node's view of its liveness.
type Member struct {
	Announcement
	// State is the member's liveness.
	State State
	// LastSeen is when its latest accepted announcement arrived.
	LastSeen time.Time
	// Phi is the detector's suspicion level at the last evaluation (0 for
	// this node itself and for members that are not live).
	Phi float64
}

// EventKind says what changed.
type EventKind int

// Event kinds.
const (
	// EventJoined: a peer not in the table, or one that had failed or
	// left, announced itself.
	EventJoined EventKind = iota
	// EventUpdated: a live member's announced content changed (anything
	// but Seq), or a suspect member was heard from again and is alive once
	// more.
	EventUpdated
	// EventSuspect: an alive member fell silent for longer than usual. It
	// is still live.
	EventSuspect
	// EventFailed: a member was silent long enough to be considered dead.
	EventFailed
	// EventLeft: a member announced a graceful leave.
	EventLeft
)

// String returns "joined", "updated", "suspect", "failed" or "left".
func (k EventKind) String() string {
	switch k {
	case EventJoined:
		return "joined"
	case EventUpdated:
		return "updated"
	case EventSuspect:
		return "suspect"
	case EventFailed:
		return "failed"
	case EventLeft:
		return "left"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event is a membership change. Member is the member as it is after the
// change.
type Event struct {
	Kind   EventKind
	Member Member
}
