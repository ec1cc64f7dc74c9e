package overlay

import (
	"encoding/json"
	"fmt"
	"io"
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
// such a snapshot too), and so that it does not take a member that is down
// for one that never was: until it hears from a remembered member, repair
// counts it as gone since this node started, with the grace that gives.
// It is only a hint: a missing or unreadable file means no remembered
// peers.

// maxRememberedPeers bounds the peers file: the most recently seen members.
const maxRememberedPeers = 64

// maxPeersFileBytes bounds what readPeers reads: maxRememberedPeers peers
// of gossip.MaxAddrs addresses fit with room to spare.
const maxPeersFileBytes = 4 << 20

// peersSaveInterval is how often a changed membership is written out; the
// file is also written when the node closes.
const peersSaveInterval = 10 * time.Second

type rememberedPeer struct {
	PeerID   string    `json:"peer_id"`
	Addrs    []string  `json:"addrs"`
	Capacity uint64    `json:"capacity,omitempty"`
	LastSeen time.Time `json:"last_seen"`
}

// remembered is a member read back from the peers file.
type remembered struct {
	peer.AddrInfo
	Capacity uint64 // 0 if the file did not say
}

// readPeers reads the peers file. A file that does not exist is no error.
func readPeers(path string) ([]remembered, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay: peers file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPeersFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("overlay: peers file: %w", err)
	}
	if len(b) > maxPeersFileBytes {
		return nil, fmt.Errorf("overlay: peers file %s: over %d bytes", path, maxPeersFileBytes)
	}
	var rs []rememberedPeer
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("overlay: peers file %s: %w", path, err)
	}
	// The file is bounded as when it is written, whatever edited it: the
	// most recently seen peers (it lists them first), each with at most as
	// many addresses as an announcement carries.
	var out []remembered
	for _, r := range rs {
		if len(out) == maxRememberedPeers {
			break
		}
		id, err := peer.Decode(r.PeerID)
		if err != nil {
			continue
		}
		m := remembered{AddrInfo: peer.AddrInfo{ID: id}, Capacity: r.Capacity}
		for _, s := range r.Addrs {
			if len(m.Addrs) == gossip.MaxAddrs {
				break
			}
			if a, err := multiaddr.NewMultiaddr(s); err == nil {
				m.Addrs = append(m.Addrs, a)
			}
		}
		if len(m.Addrs) > 0 {
			out = append(out, m)
		}
	}
	return out, nil
}

// addrInfos returns the peers' ids and addresses.
func addrInfos(rs []remembered) []peer.AddrInfo {
	out := make([]peer.AddrInfo, len(rs))
	for i, r := range rs {
		out[i] = r.AddrInfo
	}
	return out
}

// writePeers replaces the peers file with the members other than self, most
// recently seen first, whatever their state: after a network-wide restart
// every other member has left.
func writePeers(path string, self peer.ID, ms []gossip.Member) error {
	ms = slices.DeleteFunc(slices.Clone(ms), func(m gossip.Member) bool { return m.PeerID == self || len(m.Addrs) == 0 })
	slices.SortFunc(ms, func(a, b gossip.Member) int { return b.LastSeen.Compare(a.LastSeen) })
	rs := make([]rememberedPeer, 0, min(len(ms), maxRememberedPeers))
	for _, m := range ms[:min(len(ms), maxRememberedPeers)] {
		rs = append(rs, rememberedPeer{PeerID: m.PeerID.String(), Addrs: addrStrings(m.Addrs), Capacity: m.Capacity, LastSeen: m.LastSeen.UTC()})
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
