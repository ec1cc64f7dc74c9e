package consensus_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/xnode/xnode"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
	"github.com/xnode/xnode/internal/testutil"
)

const testChainID = "xnode-test"

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// initHome makes a single-validator home and returns its path.
func initHome(t testing.TB) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "cometbft")
	if err := consensus.Init(consensus.InitConfig{Home: home, ChainID: testChainID, Moniker: "solo", Key: newKey(t)}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return home
}

func loopback(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
}

// devConfig is DevConfig for home on free loopback ports, RPC off.
func devConfig(t testing.TB, home string) consensus.Config {
	cfg := consensus.DevConfig()
	cfg.Home = home
	cfg.P2PListen = loopback(t)
	cfg.RPCListen = ""
	return cfg
}

// startNode starts a node and closes it at cleanup.
func startNode(t testing.TB, cfg consensus.Config, app abcitypes.Application) *consensus.Node {
	t.Helper()
	n, err := consensus.New(cfg, app, testutil.Logger(cfg.Home))
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return n
}

func status(t testing.TB, n *consensus.Node) consensus.Status {
	t.Helper()
	st, err := n.Status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return st
}

func commit(t testing.TB, n *consensus.Node, tx string) consensus.TxResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := n.BroadcastTxCommit(ctx, []byte(tx))
	if err != nil {
		t.Fatalf("commit %q: %v", tx, err)
	}
	if res.Code != abcitypes.CodeTypeOK || res.Height <= 0 {
		t.Fatalf("commit %q: code %d height %d log %q", tx, res.Code, res.Height, res.Log)
	}
	return res
}

func compactJSON(t testing.TB, raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("app state %q: %v", raw, err)
	}
	return b.String()
}

func queryValue(t testing.TB, n *consensus.Node, key string) string {
	t.Helper()
	res, err := n.Query(context.Background(), "", []byte(key))
	if err != nil {
		t.Fatalf("query %q: %v", key, err)
	}
	return string(res.Value)
}

func TestSingleValidatorCommitsAndQueries(t *testing.T) {
	home := initHome(t)
	cfg := devConfig(t, home)
	cfg.RPCListen = loopback(t) // exercise the RPC server starting and stopping too
	n := startNode(t, cfg, kvstore.NewInMemoryApplication())

	wantID, err := consensus.NodeID(home)
	if err != nil {
		t.Fatal(err)
	}
	if n.NodeID() != wantID || n.P2PAddress() != wantID+"@"+cfg.P2PListen {
		t.Fatalf("node id %s / p2p address %s, want %s@%s", n.NodeID(), n.P2PAddress(), wantID, cfg.P2PListen)
	}

	var last consensus.TxResult
	for i := range 3 {
		res := commit(t, n, fmt.Sprintf("key%d=value%d", i, i))
		if res.Height < last.Height {
			t.Fatalf("tx %d committed at height %d, before previous %d", i, res.Height, last.Height)
		}
		last = res
	}
	for i := range 3 {
		if got, want := queryValue(t, n, fmt.Sprintf("key%d", i)), fmt.Sprintf("value%d", i); got != want {
			t.Fatalf("query key%d = %q, want %q", i, got, want)
		}
	}

	st := status(t, n)
	if st.ChainID != testChainID || st.NodeID != wantID || !st.Validator || st.VotingPower != consensus.DefaultPower || st.CatchingUp {
		t.Fatalf("status %+v", st)
	}
	if st.Height < last.Height || len(st.AppHash) != 16 {
		t.Fatalf("status height %d app hash %q after commit at %d", st.Height, st.AppHash, last.Height)
	}
	// Empty blocks keep the chain advancing without transactions.
	testutil.Eventually(t, 10*time.Second, func() bool { return status(t, n).Height > st.Height+1 },
		"height to grow past %d without txs", st.Height+1)

	// BroadcastTxSync returns after CheckTx; the value shows up later.
	hash, err := n.BroadcastTxSync(context.Background(), []byte("async=yes"))
	if err != nil || len(hash) != 32 {
		t.Fatalf("broadcast sync: hash %x err %v", hash, err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return queryValue(t, n, "async") == "yes" }, "async tx to commit")
	if consensus.PendingTxWaiters(n) != 0 {
		t.Fatalf("%d tx waiters left after commits", consensus.PendingTxWaiters(n))
	}
}

func TestRejectedTxIsTxErrorAndNodeKeepsCommitting(t *testing.T) {
	n := startNode(t, devConfig(t, initHome(t)), kvstore.NewInMemoryApplication())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, bad := range []string{"no-separator", "=leading", "a=b=c"} {
		_, err := n.BroadcastTxCommit(ctx, []byte(bad))
		var txErr *consensus.TxError
		if !errors.As(err, &txErr) || txErr.Code != kvstore.CodeTypeInvalidTxFormat {
			t.Fatalf("tx %q: got %v, want *TxError code %d", bad, err, kvstore.CodeTypeInvalidTxFormat)
		}
		if !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Fatalf("tx %q: %v does not wrap ErrInvalidArgument", bad, err)
		}
		if _, err := n.BroadcastTxSync(ctx, []byte(bad)); !errors.As(err, &txErr) {
			t.Fatalf("sync tx %q: got %v, want *TxError", bad, err)
		}
	}
	if _, err := n.BroadcastTxCommit(ctx, nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("empty tx: got %v, want ErrInvalidArgument", err)
	}

	res := commit(t, n, "after=reject")
	if queryValue(t, n, "after") != "reject" {
		t.Fatal("value committed after rejections not queryable")
	}
	// The same bytes again are a duplicate, refused by the mempool cache.
	if _, err := n.BroadcastTxCommit(ctx, []byte("after=reject")); !errors.Is(err, consensus.ErrTxInCache) || !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("duplicate tx: got %v, want ErrTxInCache", err)
	}
	// The chain keeps going past the block with the good tx.
	testutil.Eventually(t, 10*time.Second, func() bool { return status(t, n).Height > res.Height },
		"height to pass %d", res.Height)
	if consensus.PendingTxWaiters(n) != 0 {
		t.Fatalf("%d tx waiters left after rejections", consensus.PendingTxWaiters(n))
	}
}

func TestCommitDeadlineIsTimeout(t *testing.T) {
	n := startNode(t, devConfig(t, initHome(t)), kvstore.NewInMemoryApplication())
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	_, err := n.BroadcastTxCommit(ctx, []byte("late=tx"))
	if !errors.Is(err, consensus.ErrTimeout) || !errors.Is(err, xnode.ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if consensus.PendingTxWaiters(n) != 0 {
		t.Fatal("waiter left after timeout")
	}
}

func TestNewBlocksDeliversHeightsAndCloses(t *testing.T) {
	n := startNode(t, devConfig(t, initHome(t)), kvstore.NewInMemoryApplication())
	ctx, cancel := context.WithCancel(context.Background())
	blocks, err := n.NewBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res := commit(t, n, "blocks=1")
	deadline := time.After(10 * time.Second)
	var last int64
	for last < res.Height+1 {
		select {
		case h, ok := <-blocks:
			if !ok {
				t.Fatal("blocks channel closed early")
			}
			if h <= last {
				t.Fatalf("height %d after %d: not monotone", h, last)
			}
			last = h
		case <-deadline:
			t.Fatalf("no block past %d (last %d)", res.Height, last)
		}
	}
	cancel()
	// After cancel the channel closes (possibly after one buffered height).
	testutil.Eventually(t, 5*time.Second, func() bool {
		select {
		case _, ok := <-blocks:
			return !ok
		default:
			return false
		}
	}, "blocks channel to close after cancel")

	// A second subscriber is closed by Close.
	blocks2, err := n.NewBlocks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for range blocks2 {
	}
}

func TestLifecycleErrors(t *testing.T) {
	home := initHome(t)
	n, err := consensus.New(devConfig(t, home), kvstore.NewInMemoryApplication(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := n.BroadcastTxCommit(ctx, []byte("a=b")); !errors.Is(err, consensus.ErrNotStarted) {
		t.Fatalf("before start: %v, want ErrNotStarted", err)
	}
	if _, err := n.Status(ctx); !errors.Is(err, consensus.ErrNotStarted) {
		t.Fatalf("status before start: %v", err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := n.DialPeers([]string{"not-an-address"}); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("bad peer address: %v, want ErrInvalidArgument", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := n.BroadcastTxCommit(ctx, []byte("a=b")); !errors.Is(err, consensus.ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
	if err := n.Start(ctx); !errors.Is(err, consensus.ErrClosed) {
		t.Fatalf("start after close: %v, want ErrClosed", err)
	}

	if _, err := consensus.New(devConfig(t, t.TempDir()), kvstore.NewInMemoryApplication(), nil); err == nil {
		t.Fatal("New on an empty home succeeded")
	}
	if _, err := consensus.New(devConfig(t, home), nil, nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("nil app: %v", err)
	}
}

func TestStartFailsCleanlyOnBusyPort(t *testing.T) {
	home := initHome(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cfg := devConfig(t, home)
	cfg.P2PListen = l.Addr().String()
	n, err := consensus.New(cfg, kvstore.NewInMemoryApplication(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err == nil {
		n.Close()
		t.Fatal("start on a busy port succeeded")
	}
	// The databases were released: the same home starts on a free port.
	startNode(t, devConfig(t, home), kvstore.NewInMemoryApplication())
}

func TestRestartContinuesChain(t *testing.T) {
	home := initHome(t)
	appDir := filepath.Join(filepath.Dir(home), "app")
	cfg := devConfig(t, home)

	app := kvstore.NewPersistentApplication(appDir)
	n, err := consensus.New(cfg, app, testutil.Logger("restart-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := commit(t, n, "persist=1")
	before := status(t, n).Height
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}

	app2 := kvstore.NewPersistentApplication(appDir)
	t.Cleanup(func() { app2.Close() })
	n2 := startNode(t, cfg, app2)
	if h := status(t, n2).Height; h < before {
		t.Fatalf("height after restart %d < %d before", h, before)
	}
	if queryValue(t, n2, "persist") != "1" {
		t.Fatal("state lost across restart")
	}
	res2 := commit(t, n2, "persist=2")
	if res2.Height <= res.Height {
		t.Fatalf("commit after restart at height %d, not after %d", res2.Height, res.Height)
	}
}

// TestRestartWithEmptyAppReplays is the crash-like case: the app lost its
// state (here: an in-memory app), and CometBFT's handshake replays every
// stored block into it before the node takes part again.
func TestRestartWithEmptyAppReplays(t *testing.T) {
	home := initHome(t)
	cfg := devConfig(t, home)
	n, err := consensus.New(cfg, kvstore.NewInMemoryApplication(), testutil.Logger("replay-1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	res := commit(t, n, "replayed=yes")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2 := startNode(t, cfg, kvstore.NewInMemoryApplication())
	if queryValue(t, n2, "replayed") != "yes" {
		t.Fatal("blocks not replayed into a fresh app")
	}
	if h := status(t, n2).Height; h < res.Height {
		t.Fatalf("height %d after replay, want >= %d", h, res.Height)
	}
	commit(t, n2, "after=replay")
}

func TestFourValidatorsAgree(t *testing.T) {
	nw := consensustest.StartNetwork(t, 4, func(int, string) abcitypes.Application {
		return kvstore.NewInMemoryApplication()
	})
	for i, nd := range nw.Nodes {
		st := status(t, nd)
		if !st.Validator || st.VotingPower != consensus.DefaultPower {
			t.Fatalf("node %d not a validator: %+v", i, st)
		}
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		for _, nd := range nw.Nodes {
			if status(t, nd).Peers != 3 {
				return false
			}
		}
		return true
	}, "every node to have 3 peers")

	res := commit(t, nw.Nodes[0], "shared=value")
	consensustest.WaitHeight(t, nw.Nodes, res.Height+1, 20*time.Second)
	want, err := nw.Nodes[0].CommittedAppHash(res.Height)
	if err != nil {
		t.Fatal(err)
	}
	for i, nd := range nw.Nodes {
		got, err := nd.CommittedAppHash(res.Height)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("node %d app hash at %d = %X, node 0 has %X", i, res.Height, got, want)
		}
		if v := queryValue(t, nd, "shared"); v != "value" {
			t.Fatalf("node %d: shared = %q", i, v)
		}
	}
	// A tx submitted to another validator commits too (mempool gossip).
	commit(t, nw.Nodes[3], "from=node3")
}

func TestInitRefusesOverwriteAndGenesisRoundTrip(t *testing.T) {
	root := t.TempDir()
	homeA := filepath.Join(root, "a")
	key := newKey(t)
	init := consensus.InitConfig{Home: homeA, ChainID: testChainID, Key: key, AppState: []byte(`{"params":{"replication":1}}`)}
	if err := consensus.Init(init); err != nil {
		t.Fatal(err)
	}
	if err := consensus.Init(init); !errors.Is(err, consensus.ErrGenesisExists) || !errors.Is(err, xnode.ErrConflict) {
		t.Fatalf("second init: %v, want ErrGenesisExists", err)
	}
	doc, err := consensus.LoadGenesis(homeA)
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Validators) != 1 || !bytes.Equal(doc.Validators[0].PubKey.Bytes(), key.Public().(ed25519.PublicKey)) ||
		doc.Validators[0].Power != consensus.DefaultPower || compactJSON(t, doc.AppState) != `{"params":{"replication":1}}` {
		t.Fatalf("genesis %+v", doc)
	}
	if err := consensus.WriteGenesis(homeA, doc); !errors.Is(err, consensus.ErrGenesisExists) {
		t.Fatalf("WriteGenesis over existing: %v", err)
	}

	raw, err := consensus.ReadGenesis(homeA)
	if err != nil {
		t.Fatal(err)
	}
	docHash, err := consensus.GenesisDocHash(doc)
	if err != nil {
		t.Fatal(err)
	}
	if h := consensus.GenesisHash(raw); h != docHash || len(h) != 64 {
		t.Fatalf("file hash %s, doc hash %s", h, docHash)
	}

	homeB := filepath.Join(root, "b")
	if err := consensus.InitFromGenesis(homeB, []byte(`{"not":"genesis"}`), newKey(t), "b"); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("garbage genesis: %v, want ErrInvalidArgument", err)
	}
	if err := consensus.InitFromGenesis(homeB, raw, newKey(t), "b"); err != nil {
		t.Fatal(err)
	}
	rawB, err := consensus.ReadGenesis(homeB)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rawB, raw) || consensus.GenesisHash(rawB) != consensus.GenesisHash(raw) {
		t.Fatal("joiner's genesis differs from the original bytes")
	}
	if err := consensus.InitFromGenesis(homeB, raw, newKey(t), "b"); !errors.Is(err, consensus.ErrGenesisExists) {
		t.Fatalf("second InitFromGenesis: %v", err)
	}
	idA, _ := consensus.NodeID(homeA)
	idB, _ := consensus.NodeID(homeB)
	if idA == "" || idA == idB {
		t.Fatalf("node ids %q and %q", idA, idB)
	}
	if _, err := consensus.ReadGenesis(filepath.Join(root, "none")); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("missing genesis: %v, want ErrNotFound", err)
	}
}

// TestFullNodeJoinsFromGenesis: a node made with InitFromGenesis and a key
// outside the validator set syncs the chain as a non-voting full node, and
// can be pointed at the validator with DialPeers after start.
func TestFullNodeJoinsFromGenesis(t *testing.T) {
	homeA := initHome(t)
	a := startNode(t, devConfig(t, homeA), kvstore.NewInMemoryApplication())
	res := commit(t, a, "before=join")

	raw, err := consensus.ReadGenesis(homeA)
	if err != nil {
		t.Fatal(err)
	}
	homeB := filepath.Join(t.TempDir(), "cometbft")
	if err := consensus.InitFromGenesis(homeB, raw, newKey(t), "joiner"); err != nil {
		t.Fatal(err)
	}
	b := startNode(t, devConfig(t, homeB), kvstore.NewInMemoryApplication())
	if err := b.DialPeers([]string{a.P2PAddress()}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		st := status(t, b)
		return st.Height > res.Height && !st.CatchingUp
	}, "joiner to sync past %d", res.Height)
	st := status(t, b)
	if st.Validator || st.VotingPower != 0 || st.Peers != 1 {
		t.Fatalf("joiner status %+v", st)
	}
	if queryValue(t, b, "before") != "join" {
		t.Fatal("joiner's app lacks the committed value")
	}
	// A tx submitted to the full node reaches the validator and commits.
	commit(t, b, "via=fullnode")
}

func TestConcurrentCommits(t *testing.T) {
	n := startNode(t, devConfig(t, initHome(t)), kvstore.NewInMemoryApplication())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const total = 200
	res := consensustest.RunLoad(ctx, []*consensus.Node{n}, func(i int) []byte {
		return fmt.Appendf(nil, "c%d=v%d", i, i)
	}, total, total)
	t.Logf("200 concurrent: %s", res)
	if res.Committed != total {
		t.Fatalf("%d of %d committed: %v", res.Committed, total, res.FirstErr)
	}
	for _, i := range []int{0, total / 2, total - 1} {
		if got := queryValue(t, n, fmt.Sprintf("c%d", i)); got != fmt.Sprintf("v%d", i) {
			t.Fatalf("c%d = %q", i, got)
		}
	}
	if w := consensus.PendingTxWaiters(n); w != 0 {
		t.Fatalf("%d waiters left", w)
	}
}
