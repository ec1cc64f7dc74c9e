package overlay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"github.com/xnode/xnode/consensus"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// TestTwelveNodesFromOneBootstrap: every node is given only node 0 as its
// bootstrap peer; membership converges everywhere through DHT discovery and
// gossip, and a blob put on the twelfth node reads back on the second through
// owners the second node was never told about.
func TestTwelveNodesFromOneBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams()
	nodes := localnet.StartInProcess(t, 12, localnet.InProcessOptions{Params: &params, Validators: 1, ReadyTimeout: 3 * time.Minute})
	localnet.WaitConverged(t, nodes, 12, 2*time.Minute)
	cs := clients(t, nodes)
	data := make([]byte, 6<<20+1)
	rand.Read(data)
	res, err := cs[11].Put(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := cs[1].Locate(context.Background(), res.CID)
	if err != nil {
		t.Fatal(err)
	}
	strangers := map[string]bool{}
	for _, b := range loc.Blocks {
		for _, o := range b.Owners {
			if o.Peer != nodes[0].ID().String() && o.Peer != nodes[1].ID().String() {
				strangers[o.Peer] = true
			}
		}
	}
	if len(strangers) == 0 {
		t.Fatal("every owner was node 0 or node 1; the test proves nothing")
	}
	var got bytes.Buffer
	if _, err := cs[1].Get(context.Background(), res.CID, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("node 2 read different bytes")
	}
	t.Logf("blob read on node 2 from %d owners it was never told about", len(strangers))
}

func TestGenesisProtocolRefusesBadAnswers(t *testing.T) {
	// A peer answering the genesis protocol with garbage.
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	answer := []byte("this is not a genesis")
	h.SetStreamHandler(overlay.GenesisProtocol, func(s network.Stream) {
		s.Write(answer)
		s.Close()
	})
	addrs, _ := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	boot := addrs[0].String()
	home := overlay.Home(filepath.Join(t.TempDir(), "joiner"))
	_, err = overlay.Join(context.Background(), home, overlay.DefaultConfig(), overlay.JoinOptions{Bootstrap: boot, Timeout: 5 * time.Second})
	if !errors.Is(err, overlay.ErrBadGenesis) {
		t.Fatalf("garbage answer: %v", err)
	}
	if _, statErr := os.Stat(string(home)); !os.IsNotExist(statErr) {
		t.Fatal("a refused join wrote the home")
	}

	// A well-formed answer whose genesis does not hash to what it claims.
	raw, _ := json.Marshal(overlay.GenesisInfo{ChainID: "x", GenesisHash: "00", Genesis: []byte(`{"chain_id":"x"}`)})
	if _, err := overlay.DecodeGenesisInfo(raw); !errors.Is(err, overlay.ErrBadGenesis) {
		t.Fatalf("hash mismatch: %v", err)
	}
	// Nobody listening: refused within the timeout, naming the address.
	dead := "/ip4/127.0.0.1/tcp/" + itoa(tu.FreePort(t)) + "/p2p/" + h.ID().String()
	start := time.Now()
	_, err = overlay.FetchGenesis(context.Background(), dead, 2*time.Second)
	if !errors.Is(err, xnode.ErrUnavailable) || !bytes.Contains([]byte(err.Error()), []byte(dead)) {
		t.Fatalf("unreachable bootstrap: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("unreachable bootstrap took %s", time.Since(start))
	}
}

// TestJoinChecksNetwork joins a running node: a wrong chain id or genesis
// hash is refused with nothing written; the right ones make a home.
func TestJoinChecksNetwork(t *testing.T) {
	n, _, _ := singleNode(t, nil)
	boot := n.Addrs()[0]
	for _, opts := range []overlay.JoinOptions{
		{Bootstrap: boot, ChainID: "some-other-chain", Timeout: 5 * time.Second},
		{Bootstrap: boot, GenesisHash: "deadbeef", Timeout: 5 * time.Second},
	} {
		home := overlay.Home(filepath.Join(t.TempDir(), "j"))
		if _, err := overlay.Join(context.Background(), home, overlay.DefaultConfig(), opts); !errors.Is(err, overlay.ErrWrongNetwork) {
			t.Fatalf("%+v: %v", opts, err)
		}
		if _, err := os.Stat(string(home)); !os.IsNotExist(err) {
			t.Fatalf("%+v: a refused join wrote the home", opts)
		}
	}
	home := overlay.Home(filepath.Join(t.TempDir(), "ok"))
	info, err := overlay.Join(context.Background(), home, overlay.DefaultConfig(), overlay.JoinOptions{Bootstrap: boot, ChainID: "xnode-dev", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if !home.Exists() || info.ChainID != "xnode-dev" {
		t.Fatalf("join made no home: %+v", info)
	}
	got, _ := consensus.ReadGenesis(home.CometHome())
	if consensus.GenesisHash(got) != info.GenesisHash {
		t.Fatal("the joined home's genesis differs from the one served")
	}
	// Joining again over the home changes nothing.
	if _, err := overlay.Join(context.Background(), home, overlay.DefaultConfig(), overlay.JoinOptions{Bootstrap: boot}); !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("join over an existing home: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
