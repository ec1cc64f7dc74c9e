package localnet

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/overlay"
)

// freeBase picks a base port below the ephemeral range whose n nodes' ports
// are all free right now (a random start, so parallel test runs rarely meet).
func freeBase(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		b := 20000 + rand.IntN(1200)*10
		if checkFree(allUses(b, n)) == nil {
			return b
		}
	}
	t.Fatal("no free base port found")
	return 0
}

func TestGenerateWiresNodes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	base := freeBase(t, 3)
	l, err := Generate(Options{N: 3, Dir: dir, BasePort: base, Bin: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Nodes) != 3 || l.Kind != Kind || l.BasePort != base || l.ChainID != DefaultChainID {
		t.Fatalf("layout %+v", l)
	}
	back, err := LoadLayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.GenesisHash != l.GenesisHash || len(back.Nodes) != 3 || back.Nodes[2] != l.Nodes[2] {
		t.Fatalf("localnet.json reads back as %+v, want %+v", back, l)
	}

	// One genesis, byte for byte, naming every node as a validator of equal power.
	var genesis []byte
	for i, n := range l.Nodes {
		raw, err := consensus.ReadGenesis(overlay.Home(n.Home).CometHome())
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			genesis = raw
		} else if !bytes.Equal(raw, genesis) {
			t.Fatalf("%s has a different genesis", n.Name)
		}
	}
	if consensus.GenesisHash(genesis) != l.GenesisHash {
		t.Fatal("recorded genesis hash does not match the genesis")
	}
	doc, err := consensus.LoadGenesis(overlay.Home(l.Nodes[1].Home).CometHome())
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Validators) != 3 {
		t.Fatalf("genesis has %d validators, want 3", len(doc.Validators))
	}
	vals := map[string]bool{}
	for i, v := range doc.Validators {
		if v.Power != doc.Validators[0].Power {
			t.Fatalf("validator %d has power %d, validator 0 %d", i, v.Power, doc.Validators[0].Power)
		}
		vals[string(v.PubKey.Bytes())] = true
	}
	for _, n := range l.Nodes {
		op, err := overlay.LoadOperatorKey(overlay.Home(n.Home).OperatorPath())
		if err != nil {
			t.Fatal(err)
		}
		if !vals[string(op.Public().(ed25519.PublicKey))] || !n.Validator {
			t.Fatalf("%s's operator key is not a genesis validator", n.Name)
		}
	}
	gs, err := abci.ParseGenesisState(doc.AppState)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Params.ReplicationFactor != 3 {
		t.Fatalf("replication factor %d, want 3", gs.Params.ReplicationFactor)
	}

	// Distinct ports, each where the layout says, all wired to each other.
	seen := map[int]string{}
	for i, n := range l.Nodes {
		for _, u := range n.Ports.uses(n.Name) {
			if u.udp {
				continue
			}
			if other, dup := seen[u.port]; dup {
				t.Fatalf("port %d used by %s and %s", u.port, other, u.node+" "+u.purpose)
			}
			seen[u.port] = u.node + " " + u.purpose
		}
		cfg, err := overlay.LoadConfig(overlay.Home(n.Home).ConfigPath())
		if err != nil {
			t.Fatal(err)
		}
		if cfg.API.Listen != "127.0.0.1:"+strconv.Itoa(n.Ports.API) || n.API != "http://"+cfg.API.Listen ||
			cfg.Consensus.P2PListen != "127.0.0.1:"+strconv.Itoa(n.Ports.CometP2P) ||
			cfg.Consensus.RPCListen != "127.0.0.1:"+strconv.Itoa(n.Ports.CometRPC) ||
			!slices.Contains(cfg.P2P.Listen, "/ip4/127.0.0.1/tcp/"+strconv.Itoa(n.Ports.P2P)) ||
			!slices.Contains(cfg.P2P.Listen, "/ip4/127.0.0.1/udp/"+strconv.Itoa(n.Ports.P2P)+"/quic-v1") {
			t.Fatalf("%s config does not match its ports %+v: %+v", n.Name, n.Ports, cfg)
		}
		// The peer id is the one of the node's identity key.
		key, err := overlay.LoadOrCreateIdentity(overlay.Home(n.Home).IdentityPath())
		if err != nil {
			t.Fatal(err)
		}
		pid, _ := peer.IDFromPrivateKey(key)
		if pid.String() != n.PeerID || n.P2P != "/ip4/127.0.0.1/tcp/"+strconv.Itoa(n.Ports.P2P)+"/p2p/"+pid.String() {
			t.Fatalf("%s: peer id %s / %s, identity gives %s", n.Name, n.PeerID, n.P2P, pid)
		}
		var want []string
		for j, o := range l.Nodes {
			if j == i {
				continue
			}
			id, err := consensus.NodeID(overlay.Home(o.Home).CometHome())
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, id+"@127.0.0.1:"+strconv.Itoa(o.Ports.CometP2P))
		}
		if !slices.Equal(cfg.Consensus.PersistentPeers, want) {
			t.Fatalf("%s persistent peers %v, want %v", n.Name, cfg.Consensus.PersistentPeers, want)
		}
		wantBoot := []string{l.Nodes[0].P2P}
		if i == 0 {
			wantBoot = nil
		}
		if !slices.Equal(cfg.P2P.Bootstrap, wantBoot) {
			t.Fatalf("%s bootstrap %v, want %v", n.Name, cfg.P2P.Bootstrap, wantBoot)
		}
		if _, err := overlay.ParseBootstrap(l.Nodes[0].P2P); err != nil {
			t.Fatal(err)
		}
	}

	// A second Generate refuses to overwrite it.
	if _, err := Generate(Options{N: 3, Dir: dir, BasePort: freeBase(t, 3), Bin: "/bin/true"}); !errors.Is(err, ErrExists) {
		t.Fatalf("Generate over a localnet: %v, want ErrExists", err)
	}
}

func TestGenerateSmallNetworkLowersReplication(t *testing.T) {
	l, err := Generate(Options{N: 2, Dir: t.TempDir(), BasePort: freeBase(t, 2), Bin: "/bin/true", ChainID: "tiny"})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := consensus.LoadGenesis(overlay.Home(l.Nodes[0].Home).CometHome())
	if err != nil {
		t.Fatal(err)
	}
	gs, err := abci.ParseGenesisState(doc.AppState)
	if err != nil {
		t.Fatal(err)
	}
	if gs.Params.ReplicationFactor != 2 || doc.ChainID != "tiny" || len(doc.Validators) != 2 {
		t.Fatalf("R=%d chain %q validators %d; want 2, tiny, 2", gs.Params.ReplicationFactor, doc.ChainID, len(doc.Validators))
	}
}

func TestGenerateRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(Options{N: 2, Dir: dir, BasePort: freeBase(t, 2), Bin: "/bin/true"})
	if !errors.Is(err, ErrForeignDir) || !bytes.Contains([]byte(err.Error()), []byte(dir)) {
		t.Fatalf("Generate into a foreign dir: %v; want ErrForeignDir naming %s", err, dir)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("Generate wrote into a foreign dir: %d entries", len(entries))
	}
	// A localnet.json that is not ours does not make the directory ours.
	if err := os.WriteFile(filepath.Join(dir, LayoutFile), []byte(`{"kind":"other"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadLayout(dir); !errors.Is(err, ErrForeignDir) {
		t.Fatalf("LoadLayout of a foreign localnet.json: %v", err)
	}
	if _, err := LoadLayout(t.TempDir()); !errors.Is(err, ErrNoLocalnet) {
		t.Fatalf("LoadLayout of an empty dir: %v", err)
	}
}

func TestGenerateRefusesBusyPort(t *testing.T) {
	for _, tc := range []struct {
		name    string
		node    int
		udp     bool
		port    func(Ports) int
		purpose string
	}{
		{"cometbft p2p", 1, false, func(p Ports) int { return p.CometP2P }, "CometBFT p2p"},
		{"api", 0, false, func(p Ports) int { return p.API }, "HTTP API"},
		{"quic", 2, true, func(p Ports) int { return p.P2P }, "libp2p quic (udp)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := freeBase(t, 3)
			port := tc.port(portsFor(base, tc.node))
			addr := "127.0.0.1:" + strconv.Itoa(port)
			if tc.udp {
				c, err := net.ListenPacket("udp", addr)
				if err != nil {
					t.Skipf("cannot hold %s: %v", addr, err)
				}
				defer c.Close()
			} else {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Skipf("cannot hold %s: %v", addr, err)
				}
				defer l.Close()
			}
			dir := filepath.Join(t.TempDir(), "net")
			_, err := Generate(Options{N: 3, Dir: dir, BasePort: base, Bin: "/bin/true"})
			var pe *PortError
			if !errors.As(err, &pe) || !errors.Is(err, ErrPortInUse) {
				t.Fatalf("Generate with port %d held: %v; want a PortError", port, err)
			}
			if pe.Port != port || pe.Node != nodeName(tc.node) || pe.Purpose != tc.purpose {
				t.Fatalf("PortError %+v; want port %d, %s, %s", pe, port, nodeName(tc.node), tc.purpose)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("Generate wrote %s despite the busy port (stat: %v)", dir, err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{
		{N: -1}, {N: MaxNodes + 1}, {N: 2, BasePort: 80}, {N: 2, BasePort: 65530},
		{N: 2, Params: abci.Params{ReplicationFactor: 0, MaxChunkSize: 1 << 20, MinMembers: 1}},
	} {
		o.Dir, o.Bin = t.TempDir(), "/bin/true"
		if _, err := Generate(o); err == nil {
			t.Fatalf("Generate(%+v) accepted bad options", o)
		}
	}
}

func TestStatusIgnoresStrangePIDFiles(t *testing.T) {
	l, err := Generate(Options{N: 2, Dir: t.TempDir(), BasePort: freeBase(t, 2), Bin: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	// Garbage, and a live process that is not the node (this test).
	if err := os.WriteFile(l.Nodes[0].PIDPath(), []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.Nodes[1].PIDPath(), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		t.Fatal(err)
	}
	sts, err := Status(l.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].Alive || sts[0].PID != 0 || sts[1].Alive {
		t.Fatalf("status %+v; want both dead", sts)
	}
	if err := Kill(l.Dir, "node1", 0); err == nil {
		t.Fatal("Kill signalled a process that is not the node")
	}
	if _, err := l.Node("node7"); !errors.Is(err, ErrUnknownNode) {
		t.Fatalf("Node(node7): %v", err)
	}
	// Down leaves the foreign process alone and clears the stale pid files.
	if err := Down(l.Dir, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(l.Nodes[1].PIDPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale pid file kept: %v", err)
	}
}

func TestDefaultOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Options{N: MaxNodes + 1}).Validate(); err == nil || !strings.Contains(err.Error(), "N = 65") {
		t.Fatalf("Validate of N=65: %v", err)
	}
}

func BenchmarkGenerate4(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		if _, err := Generate(Options{N: 4, Dir: dir, Bin: "/bin/true"}); err != nil {
			b.Fatal(err)
		}
	}
}
