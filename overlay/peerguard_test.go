package overlay_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/overlay/transfer"
)

// TestPeerGuardCutsOffHostileBlockPeer checks the node's wiring of
// peerguard: a peer that sends three oversized frames on the block
// protocol is banned, its connection is closed and it cannot come back,
// while the node goes on serving.
func TestPeerGuardCutsOffHostileBlockPeer(t *testing.T) {
	n, c, _ := singleNode(t, nil)
	evil, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evil.Close() })
	target := peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := evil.Connect(ctx, target); err != nil {
		t.Fatal(err)
	}
	oversized := append(binary.AppendUvarint(nil, 1<<30), make([]byte, 64<<10)...)
	for i := range 3 {
		st, err := evil.NewStream(ctx, n.ID(), transfer.ProtocolID)
		if err != nil {
			t.Fatalf("stream %d before the ban: %v", i, err)
		}
		_, _ = st.Write(oversized)
		_ = st.CloseWrite()
		if _, err := io.ReadAll(st); err == nil {
			t.Fatalf("oversized frame %d was answered", i)
		}
		_ = st.Reset()
	}
	tu.Eventually(t, 10*time.Second, func() bool {
		return metricValue(t, n, "xnode_peerguard_bans_total") == 1 &&
			n.Host().Network().Connectedness(evil.ID()) != network.Connected
	}, "the hostile peer was not banned and cut off")
	if got := metricValue(t, n, "xnode_peerguard_strikes_total"); got != 3 {
		t.Fatalf("strikes_total = %v, want 3", got)
	}
	if st, err := evil.NewStream(ctx, n.ID(), transfer.ProtocolID); err == nil {
		_ = st.Reset()
		t.Fatal("the banned peer opened a stream")
	}
	if got := metricValue(t, n, "xnode_peerguard_refused_total"); got < 1 {
		t.Fatalf("refused_total = %v, want the banned peer's reconnection", got)
	}
	// The node still serves.
	data := randomBytes(10_000)
	res, err := c.Put(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := c.Get(ctx, res.CID, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("get after the ban: %v", err)
	}
}
