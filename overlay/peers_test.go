package overlay

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/internal/testutil"
)

func TestPeersFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "peers.json")
	if got, err := readPeers(path); err != nil || got != nil {
		t.Fatalf("missing file: %v, %v; want nothing and no error", got, err)
	}

	self := testutil.PeerID(t)
	t0 := time.Unix(1_700_000_000, 0)
	var ms []gossip.Member
	want := map[peer.ID]time.Time{}
	for i := range maxRememberedPeers + 6 {
		m := gossip.Member{State: gossip.Left, LastSeen: t0.Add(time.Duration(i) * time.Second)}
		m.Capacity = uint64(i+1) << 30
		m.PeerID = testutil.PeerID(t)
		m.Addrs = []multiaddr.Multiaddr{multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", 10000+i))}
		ms = append(ms, m)
		want[m.PeerID] = m.LastSeen
	}
	noAddrs := gossip.Member{LastSeen: t0.Add(time.Hour)}
	noAddrs.PeerID = testutil.PeerID(t)
	me := gossip.Member{LastSeen: t0.Add(time.Hour)}
	me.PeerID, me.Addrs = self, ms[0].Addrs
	ms = append(ms, noAddrs, me)

	if err := writePeers(path, self, ms); err != nil {
		t.Fatal(err)
	}
	got, err := readPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxRememberedPeers {
		t.Fatalf("%d peers remembered, want the %d most recently seen", len(got), maxRememberedPeers)
	}
	for i, ai := range got {
		if ai.ID == self || ai.ID == noAddrs.PeerID {
			t.Fatalf("remembered %s, which is self or has no address", ai.ID)
		}
		if i > 0 && !want[ai.ID].Before(want[got[i-1].ID]) {
			t.Fatalf("peer %d not older than peer %d", i, i-1)
		}
		if len(ai.Addrs) != 1 {
			t.Fatalf("peer %d has %d addrs", i, len(ai.Addrs))
		}
		if want := uint64(want[ai.ID].Sub(t0)/time.Second+1) << 30; ai.Capacity != want {
			t.Fatalf("peer %d: capacity %d, want %d", i, ai.Capacity, want)
		}
	}
	if want[got[len(got)-1].ID] != t0.Add(6*time.Second) {
		t.Fatal("the oldest members were kept instead of the newest")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".peers.json.tmp*")); len(m) > 0 {
		t.Fatalf("temporary files left: %v", m)
	}
}

func TestPeersFileBadInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "peers.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readPeers(path); err == nil {
		t.Fatal("garbage peers file read without error")
	}
	// Entries that do not parse are skipped; the rest are kept.
	good := testutil.PeerID(t)
	body := fmt.Sprintf(`[{"peer_id":"nope","addrs":["/ip4/127.0.0.1/tcp/1"]},
		{"peer_id":%q,"addrs":["garbage","/ip4/127.0.0.1/tcp/2"]},
		{"peer_id":%q,"addrs":[]}]`, good, testutil.PeerID(t))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != good || len(got[0].Addrs) != 1 {
		t.Fatalf("got %v, want only %s with its one good address", got, good)
	}
	// A directory where the file should be cannot be written over.
	if err := writePeers(dir, good, nil); err == nil {
		t.Fatal("wrote the peers file over a directory")
	}
}
