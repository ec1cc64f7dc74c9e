package overlay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/admission"
	"github.com/xnode/xnode/internal/testutil"
)

// nodeList is an admission.Source answering a fixed node list.
type nodeList struct {
	height int64
	active []peer.ID
}

func (l *nodeList) Nodes(context.Context) (int64, []byte, error) {
	b := []byte("[")
	for i, p := range l.active {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"peer_id":%q,"stake":1,"status":"active"}`, p.String())
	}
	return l.height, append(b, ']'), nil
}

// TestAdmittedMembers: placement keeps admitted members as they are, keeps a
// member whose admission ended as gone since then (so repair's grace
// applies, and the put path drops it at once), and drops observers.
func TestAdmittedMembers(t *testing.T) {
	a, b, c := testutil.PeerID(t), testutil.PeerID(t), testutil.PeerID(t)
	src := &nodeList{height: 1, active: []peer.ID{a, b}}
	w, err := admission.NewWatcher(admission.DefaultConfig(), src, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	src.height, src.active = 2, []peer.ID{a}
	ended := time.Now()
	if _, err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	n := &Node{admit: w}
	seen := time.Now().Add(time.Hour) // heard from after its admission ended
	out := n.admitted([]memberInfo{{ID: a, Capacity: 1}, {ID: b, Capacity: 1, LastSeen: seen}, {ID: c, Capacity: 1 << 50}})
	if len(out) != 2 || out[0].ID != a || out[0].Gone || out[1].ID != b || !out[1].Gone {
		t.Fatalf("admitted = %+v, want a, and b gone", out)
	}
	if out[1].LastSeen.Before(ended) || out[1].LastSeen.After(time.Now()) {
		t.Fatalf("b gone since %s, want when its admission ended (%s)", out[1].LastSeen, ended)
	}
	now := time.Now()
	if v := newView(a, 3, out, now, time.Minute); v.size() != 2 {
		t.Fatalf("repair's view counts %d members, want a and b within the grace", v.size())
	}
	if v := newView(a, 3, out, now, -1); v.size() != 1 {
		t.Fatalf("the put path counts %d members, want a alone", v.size())
	}
	if !n.isObserver(b) || !n.isObserver(c) || n.isObserver(a) {
		t.Fatal("observers: want b and c")
	}
	if (&Node{}).admitted(out) == nil {
		t.Fatal("a node without admission dropped members")
	}
}
