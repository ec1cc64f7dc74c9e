package consensus_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	"github.com/xnode/xnode"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
	"github.com/xnode/xnode/internal/testutil"
)

func submit(t testing.TB, n *consensus.Node, tx string, wait time.Duration) consensus.TxResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	res, err := n.SubmitTx(ctx, []byte(tx))
	if err != nil {
		t.Fatalf("submit %q: %v", tx, err)
	}
	return res
}

func lookup(t testing.TB, n *consensus.Node, hash []byte) consensus.TxResult {
	t.Helper()
	res, err := n.Tx(context.Background(), hash)
	if err != nil {
		t.Fatalf("tx %X: %v", hash, err)
	}
	return res
}

func txHash(tx string) []byte {
	h := sha256.Sum256([]byte(tx))
	return h[:]
}

// TestSubmitTxReportsFateAndIsIdempotent: a commit, a rejection and an
// unknown hash are told apart, and the same bytes submitted again give the
// first answer instead of "already in cache".
func TestSubmitTxReportsFateAndIsIdempotent(t *testing.T) {
	cfg := devConfig(t, initHome(t))
	cfg.IndexTxs = true
	n := startNode(t, cfg, kvstore.NewInMemoryApplication())

	first := submit(t, n, "fate=committed", 20*time.Second)
	if first.Status != consensus.TxCommitted || first.Code != abcitypes.CodeTypeOK || first.Height <= 0 ||
		string(first.Hash) != string(txHash("fate=committed")) {
		t.Fatalf("first submit: %+v", first)
	}
	again := submit(t, n, "fate=committed", 20*time.Second)
	if again.Status != consensus.TxCommitted || again.Height != first.Height {
		t.Fatalf("resubmit: %+v, want the commit at height %d", again, first.Height)
	}
	if got := lookup(t, n, first.Hash); got.Status != consensus.TxCommitted || got.Height != first.Height {
		t.Fatalf("Tx: %+v", got)
	}
	// The mempool cache still holds the bytes: without SubmitTx's look-up
	// the same submission is refused.
	if _, err := n.BroadcastTxCommit(context.Background(), []byte("fate=committed")); !errors.Is(err, consensus.ErrTxInCache) {
		t.Fatalf("BroadcastTxCommit of committed bytes: %v, want ErrTxInCache", err)
	}

	rej := submit(t, n, "no-separator", 20*time.Second)
	if rej.Status != consensus.TxRejected || rej.Code != kvstore.CodeTypeInvalidTxFormat || rej.Height != 0 {
		t.Fatalf("bad tx: %+v, want rejected with code %d", rej, kvstore.CodeTypeInvalidTxFormat)
	}
	if got := lookup(t, n, rej.Hash); got.Status != consensus.TxRejected || got.Code != rej.Code {
		t.Fatalf("Tx of a rejected tx: %+v", got)
	}
	if again := submit(t, n, "no-separator", 20*time.Second); again.Status != consensus.TxRejected {
		t.Fatalf("bad tx again: %+v", again)
	}

	if got := lookup(t, n, txHash("never=sent")); got.Status != consensus.TxUnknown || got.Status.String() != "unknown" {
		t.Fatalf("Tx of an unknown hash: %+v", got)
	}
	for _, bad := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if _, err := n.Tx(context.Background(), bad); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Fatalf("Tx of a %d-byte hash: %v, want ErrInvalidArgument", len(bad), err)
		}
	}
	if _, err := n.SubmitTx(context.Background(), nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("empty tx: %v, want ErrInvalidArgument", err)
	}
	big := strings.Repeat("x", cfg.MempoolMaxTxBytes) + "=1"
	if _, err := n.SubmitTx(context.Background(), []byte(big)); !errors.Is(err, consensus.ErrTxTooLarge) || !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("tx over the size limit: %v, want ErrTxTooLarge", err)
	}
	if consensus.PendingTxWaiters(n) != 0 {
		t.Fatalf("%d tx waiters left", consensus.PendingTxWaiters(n))
	}
}

// TestSubmitTxAfterRestartFindsCommitInIndex: once the node's memory of
// recent commits is gone, the tx index still answers for the bytes.
func TestSubmitTxAfterRestartFindsCommitInIndex(t *testing.T) {
	cfg := devConfig(t, initHome(t))
	cfg.IndexTxs = true
	n, err := consensus.New(cfg, kvstore.NewInMemoryApplication(), testutil.Logger("index-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := submit(t, n, "index=me", 20*time.Second)
	if first.Status != consensus.TxCommitted {
		t.Fatalf("submit: %+v", first)
	}
	// The indexer writes after the commit event: wait for it before closing.
	testutil.Eventually(t, 10*time.Second, func() bool {
		return status(t, n).Height > first.Height
	}, "a block after %d", first.Height)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := startNode(t, cfg, kvstore.NewInMemoryApplication())
	if got := lookup(t, n2, first.Hash); got.Status != consensus.TxCommitted || got.Height != first.Height {
		t.Fatalf("Tx after restart: %+v, want committed at %d", got, first.Height)
	}
	// kvstore has no replay protection: without the index these bytes
	// would commit a second time.
	if again := submit(t, n2, "index=me", 20*time.Second); again.Status != consensus.TxCommitted || again.Height != first.Height {
		t.Fatalf("resubmit after restart: %+v, want the commit at %d", again, first.Height)
	}

	// With the index off, a fresh node knows nothing of it.
	cfg.IndexTxs = false
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
	n3 := startNode(t, cfg, kvstore.NewInMemoryApplication())
	if got := lookup(t, n3, first.Hash); got.Status != consensus.TxUnknown {
		t.Fatalf("Tx with the index off: %+v, want unknown", got)
	}
}

// TestTxIndexOverStandardRPC: with IndexTxs on, CometBFT's own RPC, spoken
// over HTTP by its standard client, finds a transaction by the hash SubmitTx
// returns, and tx_search and block_search answer; with it off, /tx says
// indexing is disabled.
func TestTxIndexOverStandardRPC(t *testing.T) {
	for _, on := range []bool{true, false} {
		cfg := devConfig(t, initHome(t))
		cfg.RPCListen = loopback(t)
		cfg.IndexTxs = on
		n := startNode(t, cfg, kvstore.NewInMemoryApplication())
		res := submit(t, n, "rpc=indexed", 20*time.Second)
		if res.Status != consensus.TxCommitted {
			t.Fatalf("submit: %+v", res)
		}
		c, err := rpchttp.New("http://"+cfg.RPCListen, "/websocket")
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if !on {
			if _, err := c.Tx(ctx, res.Hash, false); err == nil || !strings.Contains(err.Error(), "indexing is disabled") {
				t.Fatalf("/tx with the index off: %v, want indexing is disabled", err)
			}
			continue
		}
		testutil.Eventually(t, 10*time.Second, func() bool {
			r, err := c.Tx(ctx, res.Hash, false)
			return err == nil && r.Height == res.Height && string(r.Tx) == "rpc=indexed"
		}, "/tx?hash=%X to find the tx", res.Hash)
		// The URI form people type: /tx?hash=0x<the API's upper-case hex>.
		resp, err := http.Get("http://" + cfg.RPCListen + "/tx?hash=0x" + strings.ToUpper(hex.EncodeToString(res.Hash)))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"height":"`+itoa(res.Height)+`"`) {
			t.Fatalf("GET /tx?hash=0x…: %d %s (%v)", resp.StatusCode, body, err)
		}
		page, perPage := 1, 10
		found, err := c.TxSearch(ctx, "tx.height="+itoa(res.Height), false, &page, &perPage, "asc")
		if err != nil || found.TotalCount < 1 {
			t.Fatalf("tx_search tx.height=%d: %+v, %v", res.Height, found, err)
		}
		hit := false
		for _, r := range found.Txs {
			hit = hit || string(r.Hash) == string(res.Hash)
		}
		if !hit {
			t.Fatalf("tx_search tx.height=%d does not list %X", res.Height, res.Hash)
		}
		blocks, err := c.BlockSearch(ctx, "block.height="+itoa(res.Height), &page, &perPage, "asc")
		if err != nil || blocks.TotalCount != 1 {
			t.Fatalf("block_search block.height=%d: %+v, %v", res.Height, blocks, err)
		}
		// A hash the chain never saw is "not found", not an error of ours.
		if _, err := c.Tx(ctx, txHash("never=sent"), false); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("/tx of an unknown hash: %v", err)
		}
	}
}

func itoa(h int64) string { return strconv.FormatInt(h, 10) }

// TestSubmitTxOnStalledChainIsPendingThenCommits: with half of the voting
// power down the chain cannot commit; SubmitTx answers pending with the
// hash when its deadline passes, Tx and a resubmission say pending, and
// once the validator is back both report the commit.
func TestSubmitTxOnStalledChainIsPendingThenCommits(t *testing.T) {
	nw := consensustest.StartNetwork(t, 2, func(int, string) abcitypes.Application {
		return kvstore.NewInMemoryApplication()
	}, consensustest.WithConfig(func(i int, cfg *consensus.Config) {
		cfg.IndexTxs = true
		// Only node1 dials. Were node0 to redial node1 as it closes, node1's
		// stopping switch could accept that connection and leave it open
		// without serving it (CometBFT v0.38 "Won't start a peer - switch is
		// not running"); in one process the socket then outlives the node,
		// and node0 refuses the restarted node1 as a duplicate until its
		// pong timeout (~105 s). A real restart closes the socket.
		if i == 0 {
			cfg.PersistentPeers = nil
		}
	}))
	n0, n1 := nw.Nodes[0], nw.Nodes[1]
	down := n1.P2PAddress()
	home1 := n1.Home()
	if err := n1.Close(); err != nil {
		t.Fatal(err)
	}

	const wait = 2 * time.Second
	start := time.Now()
	res := submit(t, n0, "stalled=tx", wait)
	if took := time.Since(start); took > wait+2*time.Second {
		t.Fatalf("pending answer took %s, bound %s", took, wait)
	}
	if res.Status != consensus.TxPending || string(res.Hash) != string(txHash("stalled=tx")) || res.Height != 0 {
		t.Fatalf("submit on a stalled chain: %+v, want pending with its hash", res)
	}
	if got := lookup(t, n0, res.Hash); got.Status != consensus.TxPending {
		t.Fatalf("Tx while stalled: %+v, want pending", got)
	}
	if again := submit(t, n0, "stalled=tx", 500*time.Millisecond); again.Status != consensus.TxPending {
		t.Fatalf("resubmit while stalled: %+v, want pending (not already in cache)", again)
	}

	// Bring the validator back on its home and address.
	cfg := consensus.DevConfig()
	cfg.Home = home1
	cfg.P2PListen = down[strings.Index(down, "@")+1:]
	if _, _, err := net.SplitHostPort(cfg.P2PListen); err != nil {
		t.Fatalf("p2p address %q: %v", down, err)
	}
	cfg.RPCListen = ""
	cfg.IndexTxs = true
	cfg.PersistentPeers = []string{n0.P2PAddress()}
	startNode(t, cfg, kvstore.NewInMemoryApplication())

	var committed consensus.TxResult
	testutil.Eventually(t, 60*time.Second, func() bool {
		committed = lookup(t, n0, res.Hash)
		return committed.Status == consensus.TxCommitted
	}, "the stalled tx to commit once the chain resumes")
	if committed.Code != abcitypes.CodeTypeOK || committed.Height <= 0 {
		t.Fatalf("committed: %+v", committed)
	}
	if again := submit(t, n0, "stalled=tx", 20*time.Second); again.Status != consensus.TxCommitted || again.Height != committed.Height {
		t.Fatalf("resubmit after the commit: %+v, want committed at %d", again, committed.Height)
	}
	if consensus.PendingTxWaiters(n0) != 0 {
		t.Fatalf("%d tx waiters left", consensus.PendingTxWaiters(n0))
	}
}
