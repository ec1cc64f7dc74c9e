package overlay

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/internal/atomicfile"
)

// The peers file remembers the members this node knew, so that a restarted
// node finds its network even when its bootstrap peers are gone (Serf keeps
// such a snapshot too). It is only a hint: a missing or unreadable file
// means no remembered peers, and the dht dials them alongside the
// bootstrap peers.

// maxRememberedPeers bounds the peers file: the most recently seen members.
const maxRememberedPeers = 64

// peersSaveInterval is how often a changed membership is written out; the
// file is also written when the node closes.
const peersSaveInterval = 10 * time.Second

type rememberedPeer struct {
	PeerID   string    `json:"peer_id"`
	Addrs    []string  `json:"addrs"`
	LastSeen time.Time `json:"last_seen"`
}

// readPeers reads the peers file. A file that does not exist is no error.
func readPeers(path string) ([]peer.AddrInfo, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: peers file: %w", err)
	}
	var rs []rememberedPeer
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("overlay: peers file %s: %w", path, err)
	}
	var out []peer.AddrInfo
	for _, r := range rs {
		id, err := peer.Decode(r.PeerID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range r.Addrs {
			if a, err := multiaddr.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		if len(ai.Addrs) > 0 {
			out = append(out, ai)
		}
	}
	return out, nil
}

// writePeers replaces the peers file with the members other than self, most
// recently seen first, whatever their state: after a network-wide restart
// every other member has left.
func writePeers(path string, self peer.ID, ms []gossip.Member) error {
	ms = slices.DeleteFunc(slices.Clone(ms), func(m gossip.Member) bool { return m.PeerID == self || len(m.Addrs) == 0 })
	slices.SortFunc(ms, func(a, b gossip.Member) int { return b.LastSeen.Compare(a.LastSeen) })
	rs := make([]rememberedPeer, 0, min(len(ms), maxRememberedPeers))
	for _, m := range ms[:min(len(ms), maxRememberedPeers)] {
		rs = append(rs, rememberedPeer{PeerID: m.PeerID.String(), Addrs: addrStrings(m.Addrs), LastSeen: m.LastSeen.UTC()})
	}
	b, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return fmt.Errorf("overlay: peers file: %w", err)
	}
	if err := atomicfile.WriteBytes(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("overlay: peers file: %w", err)
	}
	return nil
}
