package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrMalformed is a node list or genesis that does not parse.
var ErrMalformed = errors.New("admission: malformed")

// StatusActive is the one registration status that admits a peer to
// placement: bonded with at least min_node_stake, or a bonded validator
// that is not jailed or tombstoned.
const StatusActive = "active"

// StatusJailed is a validator jailed for missing blocks: out of the
// validator set until it is unjailed, its stake still bonded.
const StatusJailed = "jailed"

// Node is one registration as the chain's /nodes query reports it.
type Node struct {
	PeerID    peer.ID `json:"peer_id"`
	Address   string  `json:"address"`
	Stake     uint64  `json:"stake"`
	Validator bool    `json:"validator"`
	// Status is "active", "unbonding", "jailed" or "tombstoned".
	Status string `json:"status"`
}

// Admitted reports whether the registration admits its peer to placement.
func (n Node) Admitted() bool { return n.Status == StatusActive }

// ParseNodes decodes the JSON answer of the /nodes query: a list of
// {"peer_id","address","stake","validator","status"}. An empty answer or
// null is an empty list. Every entry must name a valid peer id and a status,
// and no peer may appear twice.
func ParseNodes(b []byte) ([]Node, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var raw []struct {
		PeerID    string `json:"peer_id"`
		Address   string `json:"address"`
		Stake     uint64 `json:"stake"`
		Validator bool   `json:"validator"`
		Status    string `json:"status"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%w: node list: %v", ErrMalformed, err)
	}
	out := make([]Node, 0, len(raw))
	seen := make(map[peer.ID]bool, len(raw))
	for i, r := range raw {
		id, err := peer.Decode(r.PeerID)
		if err != nil {
			return nil, fmt.Errorf("%w: node list: nodes[%d]: peer id %q: %v", ErrMalformed, i, r.PeerID, err)
		}
		if r.Status == "" {
			return nil, fmt.Errorf("%w: node list: nodes[%d] (%s): no status", ErrMalformed, i, id)
		}
		if seen[id] {
			return nil, fmt.Errorf("%w: node list: nodes[%d]: peer %s listed twice", ErrMalformed, i, id)
		}
		seen[id] = true
		out = append(out, Node{PeerID: id, Address: r.Address, Stake: r.Stake, Validator: r.Validator, Status: r.Status})
	}
	return out, nil
}

// Registry is the chain's node list at one height. It is immutable.
type Registry struct {
	height int64
	nodes  map[peer.ID]Node
}

// NewRegistry builds the registry of nodes at height. A peer listed twice
// keeps its last entry (ParseNodes refuses such a list).
func NewRegistry(height int64, nodes []Node) Registry {
	r := Registry{height: height, nodes: make(map[peer.ID]Node, len(nodes))}
	for _, n := range nodes {
		r.nodes[n.PeerID] = n
	}
	return r
}

// Height is the chain height the node list was read at.
func (r Registry) Height() int64 { return r.height }

// Admitted reports whether p is registered with an active status.
func (r Registry) Admitted(p peer.ID) bool {
	n, ok := r.nodes[p]
	return ok && n.Admitted()
}

// Node returns p's registration, if any.
func (r Registry) Node(p peer.ID) (Node, bool) {
	n, ok := r.nodes[p]
	return n, ok
}

// AdmittedPeers lists the admitted peers, sorted.
func (r Registry) AdmittedPeers() []peer.ID {
	out := make([]peer.ID, 0, len(r.nodes))
	for id, n := range r.nodes {
		if n.Admitted() {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// GenesisRegistersNodes reports whether a genesis app_state registers any
// node for placement: a validator with a peer id, or an entry of nodes.
// Such a chain is closed to unregistered peers; one that registers none
// (an older genesis, or none at all) is open.
func GenesisRegistersNodes(appState []byte) (bool, error) {
	appState = bytes.TrimSpace(appState)
	if len(appState) == 0 || string(appState) == "null" {
		return false, nil
	}
	var g struct {
		Validators []struct {
			PeerID string `json:"peer_id"`
		} `json:"validators"`
		Nodes []struct {
			PeerID string `json:"peer_id"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal(appState, &g); err != nil {
		return false, fmt.Errorf("%w: genesis app_state: %v", ErrMalformed, err)
	}
	for _, v := range g.Validators {
		if v.PeerID != "" {
			return true, nil
		}
	}
	return len(g.Nodes) > 0, nil
}
