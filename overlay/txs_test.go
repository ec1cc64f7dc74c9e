package overlay_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/p2p"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// TestRelayedTxSurvivesStalledChain runs two validators of equal power, so
// that stopping one stalls the chain. A transaction signed outside the node
// (a user key) is relayed through POST /v1/txs: committed while the chain
// runs; answered pending with its hash within the commit wait while it is
// stalled; shown committed by GET /v1/txs/{hash} once the other validator
// is back. Every resubmission of the same bytes gives the first result,
// never a replay or "already in cache" error.
func TestRelayedTxSurvivesStalledChain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two nodes")
	}
	net := localnet.NewInProcess(t, 2, localnet.InProcessOptions{})
	cs := clients(t, net.Nodes)
	c0 := cs[0]
	pub, user, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// Writing needs a balance: node0's operator funds the user, relayed too.
	fund, err := abci.NewSend(net.Operator(t, 0), net.ChainID, uint64(time.Now().UnixNano()), abci.AddressOf(pub), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := c0.RelayTx(t.Context(), fund); err != nil || res.Status != api.TxCommitted {
		t.Fatalf("fund the user: %+v, %v", res, err)
	}

	tx1, err := abci.NewRegisterNamespace(user, net.ChainID, 1, "relayed")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tx1)
	first, err := c0.RelayTx(t.Context(), tx1)
	if err != nil || first.Status != api.TxCommitted || first.Code != 0 || first.Height <= 0 || first.Tx != api.FormatTxHash(sum[:]) {
		t.Fatalf("relay: %+v, %v", first, err)
	}
	// Through the other node too: the same transaction, the same answer.
	for i, c := range cs {
		again, err := c.RelayTx(t.Context(), tx1)
		if err != nil || again != first {
			t.Fatalf("relay again through node%d: %+v, %v; want %+v", i, again, err, first)
		}
		tu.Eventually(t, 10*time.Second, func() bool {
			got, err := c.Tx(t.Context(), first.Tx)
			return err == nil && got == first
		}, "node%d to report %s committed at %d", i, first.Tx, first.Height)
	}

	// Garbage and a wrong signature are rejected by the chain, with the hash.
	garbage, err := c0.RelayTx(t.Context(), []byte("not a transaction"))
	if !errors.Is(err, xnode.ErrInvalidArgument) || garbage.Status != api.TxRejected || garbage.Code != abci.CodeBadEncoding {
		t.Fatalf("garbage: %+v, %v", garbage, err)
	}
	forged := append([]byte(nil), tx1...)
	forged[len(forged)-1] ^= 1
	if res, err := c0.RelayTx(t.Context(), forged); err == nil || res.Status == api.TxCommitted {
		t.Fatalf("tampered tx: %+v, %v", res, err)
	}
	// Over the chain's size limit (16 KiB) the chain refuses it; over the
	// API's (64 KiB) the API does, before the node sees it. Both are 413.
	for _, size := range []int{abci.MaxTxBytes + 1, 100 << 10} {
		if res, err := c0.RelayTx(t.Context(), make([]byte, size)); !errors.Is(err, xnode.ErrTooLarge) || res.Status == api.TxCommitted {
			t.Fatalf("tx of %d bytes: %+v, %v; want TOO_LARGE", size, res, err)
		}
	}
	if got, err := c0.Tx(t.Context(), garbage.Tx); err != nil || got.Status != api.TxRejected {
		t.Fatalf("Tx of the garbage: %+v, %v", got, err)
	}

	// Stall the chain: half the power is gone.
	if err := net.Stop(1); err != nil {
		t.Fatal(err)
	}
	tx2, err := abci.NewRegisterNamespace(user, net.ChainID, 2, "stalled")
	if err != nil {
		t.Fatal(err)
	}
	commitWait := overlayDefaultCommitWait()
	start := time.Now()
	res, err := c0.RelayTx(t.Context(), tx2)
	took := time.Since(start)
	var pending *api.TxPendingError
	if !errors.As(err, &pending) || res.Status != api.TxPending || res.Tx == "" || pending.Tx != res.Tx {
		t.Fatalf("relay on a stalled chain: %+v, %v; want pending with its hash", res, err)
	}
	if took > commitWait+5*time.Second {
		t.Fatalf("pending answer after %s; the bound is %s", took, commitWait)
	}
	t.Logf("pending answer after %s (commit wait %s)", took.Round(time.Millisecond), commitWait)
	if got, err := c0.Tx(t.Context(), res.Tx); err != nil || got.Status != api.TxPending {
		t.Fatalf("Tx while stalled: %+v, %v", got, err)
	}
	if again, err := c0.RelayTx(t.Context(), tx2); !errors.As(err, &pending) || again.Tx != res.Tx {
		t.Fatalf("relay again while stalled: %+v, %v; want pending again", again, err)
	}

	// node0 redialled node1 as it closed, and node1's stopping CometBFT
	// switch may have accepted that connection and left it open unserved
	// ("Won't start a peer - switch is not running", CometBFT v0.38). In one
	// process the socket outlives the node, and node0 would refuse the
	// restarted node1 as a duplicate peer until its pong timeout (~105 s). A
	// real restart closes the socket; here node1 comes back under a new
	// CometBFT node id (its validator key, which is what votes, is
	// unchanged).
	keyFile := filepath.Join(net.Homes[1].CometHome(), "config", "node_key.json")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	if _, err := p2p.LoadOrGenNodeKey(keyFile); err != nil {
		t.Fatal(err)
	}
	net.Restart(t, 1)
	var committed api.TxResult
	tu.Eventually(t, 90*time.Second, func() bool {
		committed, err = c0.Tx(t.Context(), res.Tx)
		return err == nil && committed.Status == api.TxCommitted
	}, "the stalled transaction to commit once the chain resumes")
	if committed.Code != 0 || committed.Height <= first.Height {
		t.Fatalf("committed: %+v", committed)
	}
	again, err := c0.RelayTx(t.Context(), tx2)
	if err != nil || again != committed {
		t.Fatalf("relay after the commit: %+v, %v; want %+v", again, err, committed)
	}
}

// TestIndexerOnByDefault: `start` and `localnet` build their config from
// DefaultConfig, so CometBFT's tx and block indexer is on unless
// config.toml turns it off, and a file without the setting keeps it on.
func TestIndexerOnByDefault(t *testing.T) {
	cfg := overlay.DefaultConfig()
	if !cfg.Consensus.IndexTxs || cfg.API.CommitWait.D() != 10*time.Second {
		t.Fatalf("defaults: index_txs %v, commit_wait %s", cfg.Consensus.IndexTxs, cfg.API.CommitWait.D())
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte("moniker = \"x\"\n[consensus]\ntimeout_commit = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := overlay.LoadConfig(path)
	if err != nil || !loaded.Consensus.IndexTxs {
		t.Fatalf("config without index_txs: %+v, %v", loaded.Consensus, err)
	}
	cfg.Consensus.IndexTxs = false
	cfg.API.CommitWait = overlay.Duration(3 * time.Second)
	if err := overlay.WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	if loaded, err = overlay.LoadConfig(path); err != nil || loaded.Consensus.IndexTxs || loaded.API.CommitWait.D() != 3*time.Second {
		t.Fatalf("index_txs = false, commit_wait = 3s written and read back: %+v %+v, %v", loaded.Consensus, loaded.API, err)
	}
	cfg.API.CommitWait = 0
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "api.commit_wait") {
		t.Fatalf("commit_wait 0: %v, want an error naming api.commit_wait", err)
	}
}

func overlayDefaultCommitWait() time.Duration {
	return api.DefaultConfig().CommitWait
}
