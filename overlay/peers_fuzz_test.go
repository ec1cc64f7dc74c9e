package overlay

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/internal/testutil"
)

// FuzzReadPeers: the peers file is only a hint, so whatever it holds (a
// torn write, a hand edit, a disk error) readPeers never panics, returns
// only peers with a valid id and at least one address, at most
// maxRememberedPeers of them with at most gossip.MaxAddrs addresses each,
// and what it returns writes out and reads back the same.
func FuzzReadPeers(f *testing.F) {
	ids := []peer.ID{testutil.PeerID(f), testutil.PeerID(f)}
	a1 := multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001")
	a2 := multiaddr.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1")
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	dir := f.TempDir()
	good := filepath.Join(dir, "seed.json")
	if err := writePeers(good, "", []gossip.Member{
		{Announcement: gossip.Announcement{PeerID: ids[0], Addrs: []multiaddr.Multiaddr{a1, a2}, Capacity: 10 << 30}, LastSeen: now},
		{Announcement: gossip.Announcement{PeerID: ids[1], Addrs: []multiaddr.Multiaddr{a2}}, LastSeen: now.Add(-time.Minute)},
	}); err != nil {
		f.Fatal(err)
	}
	seed, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("[]"))
	f.Add([]byte("null"))
	f.Add([]byte(""))
	f.Add([]byte(`[{"peer_id":"nope","addrs":["/ip4/1.2.3.4/tcp/1"]}]`))
	f.Add([]byte(`[{"peer_id":"` + ids[0].String() + `","addrs":["not an addr", "/ip4/1.2.3.4/tcp/1"],"capacity":-1}]`))
	f.Add([]byte(`[{"peer_id":"` + ids[0].String() + `","addrs":[]}]`))
	f.Add(seed[:len(seed)/2]) // a torn write
	f.Add([]byte("[" + strings.Repeat(`{"peer_id":"`+ids[0].String()+`","addrs":["/ip4/1.2.3.4/tcp/1"]},`, 100) + "{}]"))

	path := filepath.Join(dir, "peers.json")
	out := filepath.Join(dir, "again.json")
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readPeers(path)
		if err != nil {
			if got != nil {
				t.Fatal("peers returned with an error")
			}
			return
		}
		if len(got) > maxRememberedPeers {
			t.Fatalf("%d peers, at most %d", len(got), maxRememberedPeers)
		}
		ms := make([]gossip.Member, len(got))
		for i, r := range got {
			if err := r.ID.Validate(); err != nil || r.ID == "" {
				t.Fatalf("peer %d has a bad id: %v", i, err)
			}
			if len(r.Addrs) == 0 || len(r.Addrs) > gossip.MaxAddrs {
				t.Fatalf("peer %d has %d addresses", i, len(r.Addrs))
			}
			// Seen one after another, so that writing keeps the order.
			ms[i] = gossip.Member{Announcement: gossip.Announcement{PeerID: r.ID, Addrs: r.Addrs, Capacity: r.Capacity}, LastSeen: now.Add(-time.Duration(i) * time.Second)}
		}
		if err := writePeers(out, "", ms); err != nil {
			t.Fatalf("what was read does not write: %v", err)
		}
		again, err := readPeers(out)
		if err != nil {
			t.Fatalf("what was written does not read: %v", err)
		}
		if !samePeers(got, again) {
			t.Fatalf("round trip changed the peers:\n%v\n%v", got, again)
		}
	})
}

func samePeers(a, b []remembered) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Capacity != b[i].Capacity || len(a[i].Addrs) != len(b[i].Addrs) {
			return false
		}
		for j := range a[i].Addrs {
			if !bytes.Equal(a[i].Addrs[j].Bytes(), b[i].Addrs[j].Bytes()) {
				return false
			}
		}
	}
	return true
}

// The peers file is bounded on read as on write: a file grown by hand or
// by a bug does not make a node dial thousands of peers or addresses.
func TestReadPeersKeepsLimits(t *testing.T) {
	var ids []peer.ID
	for range maxRememberedPeers + 10 {
		ids = append(ids, testutil.PeerID(t))
	}
	var rs []rememberedPeer
	for _, id := range ids {
		r := rememberedPeer{PeerID: id.String()}
		for i := range gossip.MaxAddrs + 5 {
			r.Addrs = append(r.Addrs, multiaddr.StringCast("/ip4/127.0.0.1/tcp/"+strconv.Itoa(4000+i)).String())
		}
		rs = append(rs, r)
	}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readPeers(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxRememberedPeers {
		t.Fatalf("read %d peers, want the first %d", len(got), maxRememberedPeers)
	}
	for i, r := range got {
		if r.ID != ids[i] || len(r.Addrs) != gossip.MaxAddrs {
			t.Fatalf("peer %d: %s with %d addresses, want %s with %d", i, r.ID, len(r.Addrs), ids[i], gossip.MaxAddrs)
		}
	}

	// A file over the size bound is refused unread, not parsed.
	big := append([]byte("["), bytes.Repeat([]byte(" "), maxPeersFileBytes)...)
	big = append(big, ']')
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := readPeers(path); err == nil || got != nil {
		t.Fatalf("a %d-byte peers file: %d peers, err %v; want an error", len(big), len(got), err)
	}
}
