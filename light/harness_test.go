package light_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
	"github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/light"
)

// network is a running set of validators with their CometBFT RPC servers.
type network struct {
	*consensustest.Network
	RPC     []string // http://127.0.0.1:PORT of node i
	ChainID string
}

// startNetwork runs n validators of apps made by factory, each with its
// RPC server on a free loopback port.
func startNetwork(t testing.TB, n int, factory consensustest.AppFactory, opts ...consensustest.Option) *network {
	t.Helper()
	rpc := make([]string, n)
	opts = append(opts, consensustest.WithConfig(func(i int, cfg *consensus.Config) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
		cfg.RPCListen = addr
		rpc[i] = "http://" + addr
	}))
	nw := consensustest.StartNetwork(t, n, factory, opts...)
	doc, err := nw.GenesisDoc()
	if err != nil {
		t.Fatal(err)
	}
	return &network{Network: nw, RPC: rpc, ChainID: doc.ChainID}
}

// genesisRoot is the network's genesis as a trust root.
func (nw *network) genesisRoot(t testing.TB) light.TrustRoot {
	t.Helper()
	doc, err := nw.GenesisDoc()
	if err != nil {
		t.Fatal(err)
	}
	return light.TrustRoot{Genesis: doc}
}

// commitTx submits tx through node 0 and returns its height.
func (nw *network) commitTx(t testing.TB, tx []byte) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := nw.Nodes[0].BroadcastTxCommit(ctx, tx)
	if err != nil {
		t.Fatalf("commit %q: %v", tx, err)
	}
	if res.Code != 0 {
		t.Fatalf("commit %q: code %d: %s", tx, res.Code, res.Log)
	}
	return res.Height
}

// waitHeight waits until every node is at height h or above.
func (nw *network) waitHeight(t testing.TB, h int64) {
	t.Helper()
	consensustest.WaitHeight(t, nw.Nodes, h, 30*time.Second)
}

// lies says how a liar falsifies what it relays. Nil fields relay as is.
type lies struct {
	// query rewrites an abci_query request's parameters (path, data as
	// hex, height as a decimal string, prove).
	query func(params map[string]any)
	// answer rewrites an abci_query answer; asked are the parameters as
	// the client sent them.
	answer func(asked map[string]any, res *abcitypes.ResponseQuery)
	// commit rewrites a signed header and its commit.
	commit func(res *ctypes.ResultCommit)
}

// liar is a CometBFT RPC endpoint in front of a real node's that relays
// every JSON-RPC call and falsifies the ones its current lies name.
type liar struct {
	*httptest.Server
	target atomic.Pointer[string]
	lies   atomic.Pointer[lies]
}

func newLiar(t testing.TB, target string) *liar {
	t.Helper()
	l := &liar{}
	l.target.Store(&target)
	l.lies.Store(&lies{})
	l.Server = httptest.NewServer(l)
	t.Cleanup(l.Close)
	return l
}

// lie makes the liar tell these lies from now on.
func (l *liar) lie(ls lies) { l.lies.Store(&ls) }

// relay makes the liar relay another node's RPC from now on.
func (l *liar) relay(target string) { l.target.Store(&target) }

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ls := l.lies.Load()
	var req struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  map[string]any  `json:"params"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "liar: only single JSON-RPC POSTs are relayed: "+err.Error(), http.StatusBadRequest)
		return
	}
	asked := make(map[string]any, len(req.Params))
	for k, v := range req.Params {
		asked[k] = v
	}
	if req.Method == "abci_query" && ls.query != nil {
		ls.query(req.Params)
		if body, err = json.Marshal(req); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	resp, err := http.Post(*l.target.Load(), "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	out, err = l.falsify(ls, req.Method, asked, out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

func (l *liar) falsify(ls *lies, method string, asked map[string]any, out []byte) ([]byte, error) {
	var env struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result,omitempty"`
		Error   json.RawMessage `json:"error,omitempty"`
	}
	if err := json.Unmarshal(out, &env); err != nil || len(env.Result) == 0 {
		return out, nil
	}
	var result any
	switch {
	case method == "abci_query" && ls.answer != nil:
		var res ctypes.ResultABCIQuery
		if err := cmtjson.Unmarshal(env.Result, &res); err != nil {
			return nil, err
		}
		ls.answer(asked, &res.Response)
		result = &res
	case method == "commit" && ls.commit != nil:
		var res ctypes.ResultCommit
		if err := cmtjson.Unmarshal(env.Result, &res); err != nil {
			return nil, err
		}
		ls.commit(&res)
		result = &res
	default:
		return out, nil
	}
	b, err := cmtjson.Marshal(result)
	if err != nil {
		return nil, err
	}
	env.Result = b
	return json.Marshal(env)
}

// setQueryHeight sets an abci_query request's height.
func setQueryHeight(params map[string]any, h int64) { params["height"] = strconv.FormatInt(h, 10) }

// setQueryData sets an abci_query request's data (hex in JSON-RPC).
func setQueryData(params map[string]any, data []byte) { params["data"] = fmt.Sprintf("%X", data) }

// askedHeight reads the height a client asked for.
func askedHeight(asked map[string]any) int64 {
	s, _ := asked["height"].(string)
	h, _ := strconv.ParseInt(s, 10, 64)
	return h
}

// dropSignatures marks all but keep of a commit's signatures absent, as a
// node that shows a header signed by fewer validators would.
func dropSignatures(keep int) func(res *ctypes.ResultCommit) {
	return func(res *ctypes.ResultCommit) {
		for i := keep; i < len(res.Commit.Signatures); i++ {
			res.Commit.Signatures[i] = types.CommitSig{BlockIDFlag: types.BlockIDFlagAbsent}
		}
	}
}
