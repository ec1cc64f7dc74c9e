package overlay

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/admission"
)

// Roles of this node, as `xnode status` shows them.
const (
	// RoleValidator: in the chain's validator set (it votes and verifies);
	// a validator is also a member.
	RoleValidator = "validator"
	// RoleMember: admitted to placement (it holds data) but not voting.
	RoleMember = "member"
	// RoleObserver: not registered on chain: it reads and writes through
	// the members, follows the chain, and holds no data.
	RoleObserver = "observer"
)

// ObserverHint is what an observer's operator does next to take part.
const ObserverHint = "this node is an observer: fund its operator account (`xnode account` shows its address) " +
	"and run `xnode node register --stake N` or `xnode validator create --stake N`"

// nodesSource reads the chain's node list for the admission watcher.
type nodesSource struct{ n *Node }

func (s nodesSource) Nodes(ctx context.Context) (int64, []byte, error) {
	res, err := s.n.chain.Query(ctx, "/nodes", nil)
	if err != nil {
		return 0, nil, err
	}
	if res.Code != 0 {
		return 0, nil, fmt.Errorf("query /nodes: code %d: %s", res.Code, res.Log)
	}
	return res.Height, res.Value, nil
}

// startAdmission decides from the genesis whether placement is open to
// every announcing member (a genesis that registers no node) or only to the
// peers the chain admits, reads the node list once, and follows it on every
// new block. A change calls for a repair pass: at once for peers admitted,
// after the repair grace for peers whose admission ended, as for a member
// that left.
func (n *Node) startAdmission(ctx context.Context) error {
	closed, err := admission.GenesisRegistersNodes(n.genesis.AppState)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	cfg := admission.DefaultConfig()
	cfg.Open = !closed
	cfg.Retention = max(cfg.Retention, 4*n.cfg.Repair.Grace.D())
	// A validator jailed for missing blocks keeps its data for its jail
	// time: one restarted within it comes back to its own blocks; one still
	// jailed after it has been away for long, and is repaired around.
	cfg.JailGrace = time.Duration(n.params.JailTime)
	var heights <-chan int64
	if closed {
		if heights, err = n.chain.NewBlocks(ctx); err != nil {
			return err
		}
	}
	onChange := func(ch admission.Change) {
		if len(ch.Admitted) > 0 {
			n.repair.Trigger()
		}
		if len(ch.Ended) > 0 {
			time.AfterFunc(n.cfg.Repair.Grace.D()+time.Second, n.repair.Trigger)
		}
	}
	if n.admit, err = admission.NewWatcher(cfg, nodesSource{n}, heights, onChange, n.reg, n.log); err != nil {
		return err
	}
	if !closed {
		n.log.Info("the genesis registers no node: every announcing member takes part in placement (open admission, as before the chain governed it)")
	} else if _, err := n.admit.Refresh(ctx); err != nil {
		// The next block tries again; until then placement counts nobody.
		n.log.Warn("could not read the chain's node list", "err", err)
	} else if n.isObserver(n.host.ID()) {
		n.log.Info("not registered on chain: " + ObserverHint)
	}
	if err := n.admit.Start(ctx); err != nil {
		return err
	}
	n.onClose(n.admit.Close)
	return nil
}

// admitted keeps of ms the members the chain admits to placement; a member
// whose admission ended recently stays, as gone since then, so that repair
// waits out its grace before moving its blocks, as for a member that left.
func (n *Node) admitted(ms []memberInfo) []memberInfo {
	if n.admit == nil || n.admit.Open() {
		return ms
	}
	out := ms[:0]
	for _, m := range ms {
		d := n.admit.Place(m.ID)
		switch d.Placement {
		case admission.In:
			out = append(out, m)
		case admission.Ended:
			if !m.Gone || d.Since.Before(m.LastSeen) {
				m.LastSeen = d.Since
			}
			m.Gone = true
			out = append(out, m)
		}
	}
	return out
}

// isObserver reports whether p's announcements are those of an observer:
// a peer the chain does not admit, including one whose admission ended and
// that repair still keeps in place for its grace.
func (n *Node) isObserver(p peer.ID) bool {
	return n.admit != nil && !n.admit.Admitted(p)
}

// ignoreMember reports whether a membership event of p must not call for
// repair (p is an observer), counting it when so.
func (n *Node) ignoreMember(p peer.ID) bool {
	return n.admit != nil && n.admit.Ignore(p)
}

// role is this node's part in the network.
func (n *Node) role(validator bool) string {
	switch {
	case validator:
		return RoleValidator
	case n.isObserver(n.host.ID()):
		return RoleObserver
	}
	return RoleMember
}

// memberState is the state `xnode members` shows for p: its liveness, or
// "observer" for a peer the chain does not admit.
func (n *Node) memberState(p peer.ID, live string) string {
	if n.isObserver(p) {
		return RoleObserver
	}
	return live
}

// Observer reports whether this node is an observer: the chain does not
// admit it to placement (yet), so it holds no data. It is false on a chain
// whose genesis registers no node.
func (n *Node) Observer() bool { return n.host != nil && n.isObserver(n.host.ID()) }
