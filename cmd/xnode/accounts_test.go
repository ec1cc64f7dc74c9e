package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/keyring"
)

// initHome makes a node home (keys, config, genesis) without running it.
func initHome(t *testing.T) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if r := cli(t, "", "init", "--home", home); r.code != 0 {
		t.Fatalf("init: %+v", r)
	}
	return home
}

type keyOut struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Encrypted bool   `json:"encrypted"`
	Operator  bool   `json:"operator"`
}

func showKey(t *testing.T, home, name string) keyOut {
	t.Helper()
	r := cli(t, "", "keys", "show", name, "--home", home, "--json")
	var k keyOut
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &k) != nil {
		t.Fatalf("keys show %s --json: %+v", name, r)
	}
	if _, err := abci.ParseAddress(k.Address); err != nil || k.Name != name {
		t.Fatalf("keys show %s --json: %+v: %v", name, k, err)
	}
	return k
}

func TestKeysCLI(t *testing.T) {
	t.Setenv(keyring.PassphraseEnv, "")
	home := initHome(t)

	r := cli(t, "", "keys", "add", "alice", "--home", home, "--json")
	if r.code != 0 || !strings.Contains(r.stderr, "without a passphrase") {
		t.Fatalf("keys add alice: %+v", r)
	}
	alice := showKey(t, home, "alice")
	if alice.Encrypted {
		t.Fatal("alice is marked encrypted")
	}
	st, err := os.Stat(filepath.Join(home, "keys", "keyring", "alice.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("alice.key: %v, %v", st, err)
	}

	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("correct horse\n"), 0o600)
	if r = cli(t, "", "keys", "add", "bob", "--home", home, "--passphrase-file", pass); r.code != 0 || strings.Contains(r.stderr, "without a passphrase") {
		t.Fatalf("keys add bob --passphrase-file: %+v", r)
	}
	if !showKey(t, home, "bob").Encrypted {
		t.Fatal("bob is not encrypted")
	}

	// The operator key is the account "operator": listed, shown, read-only.
	op := showKey(t, home, "operator")
	if !op.Operator {
		t.Fatalf("operator: %+v", op)
	}
	r = cli(t, "", "keys", "list", "--home", home, "--json")
	var list []keyOut
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &list) != nil || len(list) != 3 ||
		list[0].Name != "operator" || list[1].Name != "alice" || list[2].Name != "bob" {
		t.Fatalf("keys list --json: %+v", r)
	}
	if r = cli(t, "", "keys", "list", "--home", home); r.code != 0 || !strings.Contains(r.stdout, alice.Address) {
		t.Fatalf("keys list: %+v", r)
	}
	if r = cli(t, "", "keys", "show", "alice", "--address", "--home", home); strings.TrimSpace(r.stdout) != alice.Address {
		t.Fatalf("keys show --address: %+v", r)
	}

	// Export of a sealed key: refused at once without a passphrase (standard
	// input is not a terminal, so nothing prompts), done with one, 0600.
	out := filepath.Join(t.TempDir(), "bob.pem")
	r = cli(t, "", "keys", "export", "bob", "-o", out, "--home", home)
	if r.code != 1 || !strings.Contains(r.stderr, "--passphrase-file") || !strings.Contains(r.stderr, keyring.PassphraseEnv) {
		t.Fatalf("export without passphrase: %+v", r)
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused export wrote the file")
	}
	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("battery staple"), 0o600)
	if r = cli(t, "", "keys", "export", "bob", "-o", out, "--home", home, "--passphrase-file", wrong); r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("export with a wrong passphrase: %+v", r)
	}
	t.Setenv(keyring.PassphraseEnv, "correct horse")
	if r = cli(t, "", "keys", "export", "bob", "-o", out, "--home", home); r.code != 0 {
		t.Fatalf("export with XNODE_PASSPHRASE: %+v", r)
	}
	t.Setenv(keyring.PassphraseEnv, "")
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("exported file: %v, %v", st, err)
	}
	if r = cli(t, "", "keys", "export", "bob", "-o", out, "--home", home, "--passphrase-file", pass); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("export over an existing file: %+v", r)
	}
	// Import of the export is the same account.
	if r = cli(t, "", "keys", "import", "bob2", out, "--home", home); r.code != 0 {
		t.Fatalf("import: %+v", r)
	}
	if got := showKey(t, home, "bob2"); got.Address != showKey(t, home, "bob").Address {
		t.Fatal("imported key has another address")
	}
	pemBytes, _ := os.ReadFile(out)
	if r = cli(t, string(pemBytes), "keys", "import", "bob3", "-", "--home", home); r.code != 0 {
		t.Fatalf("import from stdin: %+v", r)
	}

	garbage := filepath.Join(t.TempDir(), "garbage")
	os.WriteFile(garbage, []byte("not a key at all"), 0o600)
	for _, c := range []struct {
		args []string
		code int
		hint string
	}{
		{[]string{"keys", "add", "operator"}, 2, "operator"},
		{[]string{"keys", "add", "Alice"}, 2, "a-z"},
		{[]string{"keys", "add", strings.Repeat("a", 33)}, 2, "limit 32"},
		{[]string{"keys", "add", "alice"}, 1, "already exists"},
		{[]string{"keys", "show", "ghost"}, 1, "xnode keys add ghost"},
		{[]string{"keys", "show", "../etc"}, 2, "bad key name"},
		{[]string{"keys", "import", "carol", garbage}, 1, "not a private key"},
		{[]string{"keys", "import", "carol", filepath.Join(t.TempDir(), "missing")}, 1, "check the path"},
		{[]string{"keys", "import", "operator", out}, 2, "operator"},
		{[]string{"keys", "export", "alice"}, 2, "-o FILE"},
		{[]string{"keys", "add"}, 2, "one NAME"},
	} {
		r := cli(t, "", append(c.args, "--home", home)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.hint) {
			t.Errorf("xnode %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, r.code, r.stderr, c.code, c.hint)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "keys", "keyring", "carol.key")); err == nil {
		t.Fatal("a garbage import wrote a key")
	}
}

func TestAccountCommandsBadInput(t *testing.T) {
	home := initHome(t)
	dead := fmt.Sprintf("http://127.0.0.1:%d", tu.FreePort(t))
	if r := cli(t, "", "keys", "add", "alice", "--home", home); r.code != 0 {
		t.Fatalf("keys add: %+v", r)
	}
	addr := showKey(t, home, "alice").Address
	bare := filepath.Join(t.TempDir(), "bare") // a home without a node
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, c := range []struct {
		args []string
		code int
		hint string
	}{
		{[]string{"send", "xnode1notanaddress", "10"}, 2, "xnode1"},
		{[]string{"send", "cosmos1qqqsyqcyq5rqwzqfpg9scrgwpugpzysn7mhh2z", "10"}, 2, "xnode"},
		{[]string{"send", "nobody", "10"}, 2, "neither an address"},
		{[]string{"send", addr, "0"}, 2, "above 0"},
		{[]string{"send", addr, "ten"}, 2, "whole number"},
		{[]string{"send", addr, "-5"}, 2, "unknown shorthand"},
		{[]string{"send", addr, "99999999999999999999999"}, 2, "whole number"},
		{[]string{"send", addr, "10", "--from", "ghost"}, 1, "no key named"},
		{[]string{"send", addr, "10", "--from", "Ghost"}, 2, "--from"},
		{[]string{"send", addr}, 2, "AMOUNT"},
		{[]string{"account", "xnode1bad"}, 2, "xnode1"},
		{[]string{"account", "a", "b"}, 2, "at most one"},
		{[]string{"validator", "create"}, 2, "--stake"},
		{[]string{"validator", "create", "--stake", "0"}, 2, "above 0"},
		{[]string{"validator", "bond", "x"}, 2, "whole number"},
		{[]string{"validator", "unbond", "0"}, 2, "above 0"},
		{[]string{"validator", "frob"}, 2, "unknown command"},
		{[]string{"node", "register", "--stake", "none"}, 2, "whole number"},
		{[]string{"ns", "allow", "demo", "not-a-peer"}, 2, "peer id"},
		{[]string{"ns", "disallow", "X!", "12D3KooWFake"}, 2, "namespace"},
		{[]string{"ns", "register", "Bad_Name", "--from", "alice"}, 2, "names are"},
		{[]string{"submit", "demo/k", file, "--from", "ghost"}, 1, "no key named"},
		{[]string{"submit", "demo/k", "neither-file-nor-cid", "--from", "alice"}, 1, "neither a readable file nor a CID"},
		{[]string{"send", addr, "10", "--from", "alice"}, 1, "is a node running?"},
		{[]string{"account", "--home", bare}, 1, "is a node running?"},
		{[]string{"validator", "create", "--stake", "5", "--home", bare}, 1, "not a node's home"},
		{[]string{"node", "register", "--home", bare}, 1, "not a node's home"},
	} {
		args := append([]string{"--home", home, "--api", dead}, c.args...)
		r := cli(t, "", args...)
		if r.code != c.code || !strings.Contains(r.stderr, c.hint) {
			t.Errorf("xnode %v: exit %d, stderr %q; want exit %d mentioning %q", c.args, r.code, r.stderr, c.code, c.hint)
		}
	}
}

// startDevNode runs `xnode start` on a fresh home in-process and waits until
// it is ready; the node stops at the end of the test.
func startDevNode(t *testing.T) (home, apiURL string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	apiURL, _ = startNode(t, home)
	return home, apiURL
}

type accountOut struct {
	Address   string `json:"address"`
	Balance   uint64 `json:"balance"`
	Bonded    uint64 `json:"bonded"`
	Unbonding []any  `json:"unbonding"`
}

func account(t *testing.T, home, api string, args ...string) accountOut {
	t.Helper()
	r := cli(t, "", append([]string{"account", "--home", home, "--api", api, "--json"}, args...)...)
	var a accountOut
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &a) != nil {
		t.Fatalf("account %v: %+v", args, r)
	}
	return a
}

type txOut struct {
	Tx     string `json:"tx"`
	Status string `json:"status"`
	Height int64  `json:"height"`
	Code   uint32 `json:"code"`
	Log    string `json:"log"`
}

// committed runs a transaction command with --json and wants it committed.
func committed(t *testing.T, args ...string) txOut {
	t.Helper()
	r := cli(t, "", append(args, "--json")...)
	var tx txOut
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &tx) != nil || tx.Status != "committed" || tx.Height <= 0 || len(tx.Tx) != 64 {
		t.Fatalf("xnode %v: %+v (%+v)", args, r, tx)
	}
	return tx
}

// TestAccountsAndSignedWrites drives a real node through the account
// commands: a user key is funded by the operator, claims a namespace and
// submits records with transactions it signs itself (relayed by the node),
// and the node's own operator key cannot write into that namespace.
func TestAccountsAndSignedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	t.Setenv(keyring.PassphraseEnv, "")
	home, api := startDevNode(t)
	at := []string{"--home", home, "--api", api}
	with := func(args ...string) []string { return append(args, at...) }

	// The dev genesis funds the operator.
	op := account(t, home, api)
	if op.Balance == 0 || op.Address != showKey(t, home, "operator").Address {
		t.Fatalf("operator account: %+v", op)
	}
	if r := cli(t, "", with("account")...); r.code != 0 || !strings.Contains(r.stdout, "balance") {
		t.Fatalf("account (text): %+v", r)
	}

	// A user key, sealed under a passphrase given by the environment.
	t.Setenv(keyring.PassphraseEnv, "alice's secret")
	if r := cli(t, "", with("keys", "add", "alice")...); r.code != 0 {
		t.Fatalf("keys add alice: %+v", r)
	}
	alice := showKey(t, home, "alice")
	if !alice.Encrypted {
		t.Fatal("alice is not sealed")
	}
	if got := account(t, home, api, alice.Address); got.Balance != 0 || got.Address != alice.Address || got.Unbonding == nil {
		t.Fatalf("unfunded account: %+v", got)
	}

	send := committed(t, with("send", alice.Address, "5000")...)
	if r := cli(t, "", with("tx", send.Tx)...); r.code != 0 || !strings.Contains(r.stdout, "committed") {
		t.Fatalf("tx %s: %+v", send.Tx, r)
	}
	if got := account(t, home, api, "alice"); got.Balance != 5000 {
		t.Fatalf("alice after send: %+v", got)
	}
	if got := account(t, home, api); got.Balance >= op.Balance {
		t.Fatalf("operator balance %d did not fall from %d", got.Balance, op.Balance)
	}
	// Text output names the hash and the height.
	r := cli(t, "", with("send", "alice", "1")...)
	if r.code != 0 || !strings.Contains(r.stdout, "committed at height") {
		t.Fatalf("send (text): %+v", r)
	}

	// Spending more than the balance is rejected with the chain's reason.
	r = cli(t, "", with("send", op.Address, "1000000", "--from", "alice")...)
	if r.code != 1 || !strings.Contains(r.stderr, "rejected") || !strings.Contains(r.stderr, "insufficient_funds") {
		t.Fatalf("overspend: %+v", r)
	}
	// A wrong passphrase signs nothing.
	t.Setenv(keyring.PassphraseEnv, "not it")
	if r = cli(t, "", with("send", op.Address, "1", "--from", "alice")...); r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %+v", r)
	}
	t.Setenv(keyring.PassphraseEnv, "alice's secret")

	// alice claims a namespace and writes into it, signing herself.
	committed(t, with("ns", "register", "alice-ns", "--from", "alice")...)
	data := make([]byte, 300<<10)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "blob.bin")
	os.WriteFile(file, data, 0o644)
	sub := committed(t, with("submit", "alice-ns/hello", file, "--from", "alice")...)
	r = cli(t, "", with("record", "alice-ns/hello", "--json")...)
	var rec struct {
		CID    string `json:"cid"`
		Height int64  `json:"height"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rec) != nil || rec.Height != sub.Height {
		t.Fatalf("record: %+v", r)
	}
	// By CID, too: the size is read from the node.
	committed(t, with("submit", "alice-ns/again", rec.CID, "--from", "alice")...)

	// The node's operator key cannot write into alice's namespace, either
	// through the node's endpoint or signing itself.
	r = cli(t, "", with("submit", "alice-ns/intruder", file)...)
	if r.code != 1 || !strings.Contains(r.stderr, "another key") {
		t.Fatalf("operator submit into alice-ns: %+v", r)
	}
	r = cli(t, "", with("submit", "alice-ns/intruder", rec.CID, "--from", "operator")...)
	if r.code != 1 || !strings.Contains(r.stderr, "rejected") {
		t.Fatalf("operator-signed submit into alice-ns: %+v", r)
	}
	if r = cli(t, "", with("record", "alice-ns/intruder")...); r.code != 1 {
		t.Fatalf("the intruder's record exists: %+v", r)
	}

	// alice lets the node publish her namespace's services.
	var st struct {
		PeerID string `json:"peer_id"`
	}
	r = cli(t, "", with("status", "--json")...)
	if json.Unmarshal([]byte(r.stdout), &st) != nil {
		t.Fatalf("status: %+v", r)
	}
	committed(t, with("ns", "allow", "alice-ns", st.PeerID, "--from", "alice")...)
	committed(t, with("ns", "disallow", "alice-ns", st.PeerID, "--from", "alice")...)
	// Only the owner may.
	if r = cli(t, "", with("ns", "allow", "alice-ns", st.PeerID)...); r.code != 1 || !strings.Contains(r.stderr, "rejected") {
		t.Fatalf("operator allows into alice-ns: %+v", r)
	}

	// The validator set: this node alone, bonded at genesis.
	r = cli(t, "", with("validators", "--json")...)
	var vs []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &vs) != nil || len(vs) != 1 {
		t.Fatalf("validators --json: %+v", r)
	}
	for _, f := range []string{"address", "peer_id", "power", "stake", "status", "missed", "jailed_until"} {
		if _, ok := vs[0][f]; !ok {
			t.Errorf("validators --json lacks %q: %v", f, vs[0])
		}
	}
	if vs[0]["peer_id"] != st.PeerID || vs[0]["status"] != "active" {
		t.Fatalf("validator: %v (node %s)", vs[0], st.PeerID)
	}
	if r = cli(t, "", with("validators")...); r.code != 0 || !strings.Contains(r.stdout, st.PeerID) {
		t.Fatalf("validators: %+v", r)
	}
	stake := vs[0]["stake"].(float64)
	committed(t, with("validator", "bond", "10")...)
	if got := account(t, home, api); got.Bonded != uint64(stake)+10 {
		t.Fatalf("operator bonded %d after bonding 10 more onto %v", got.Bonded, stake)
	}
	committed(t, with("validator", "unbond", "10")...)
	if got := account(t, home, api); len(got.Unbonding) != 1 {
		t.Fatalf("operator after unbonding 10: %+v", got)
	}
	// The node is registered already: a second registration is refused.
	if r = cli(t, "", with("node", "register")...); r.code != 1 || !strings.Contains(r.stderr, "rejected") {
		t.Fatalf("node register of a validator: %+v", r)
	}
	if r = cli(t, "", with("validator", "create", "--stake", "10")...); r.code != 1 || !strings.Contains(r.stderr, "rejected") {
		t.Fatalf("validator create of a validator: %+v", r)
	}
}

// TestUserWritesThroughAnyNodeAndJoinedNodeValidates: a user whose keyring
// holds no node registers a namespace through node A and submits a record
// through node B, which joined A; then B's operator, funded by A's, makes B
// a validator with `validator create` run on B, and both nodes list it.
func TestUserWritesThroughAnyNodeAndJoinedNodeValidates(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	t.Setenv(keyring.PassphraseEnv, "")
	bin := binary(t)
	dir := t.TempDir()
	aHome, bHome, user := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "user")
	a := spawn(t, bin, aHome, "start")
	r := cli(t, "", "status", "--json", "--api", a.api)
	var st struct {
		Addrs []string `json:"addrs"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Addrs) == 0 {
		t.Fatalf("status: %+v", r)
	}
	// B is an observer until it registers, and an observer is not ready
	// (it holds no data): wait for its chain instead.
	b := spawnChain(t, bin, bHome, "join", st.Addrs[0])

	// The user's home holds only a keyring.
	if r = cli(t, "", "keys", "add", "alice", "--home", user); r.code != 0 {
		t.Fatalf("keys add: %+v", r)
	}
	alice := showKey(t, user, "alice").Address
	committed(t, "send", alice, "5000", "--home", aHome, "--api", a.api)
	committed(t, "ns", "register", "shared", "--from", "alice", "--home", user, "--api", a.api)
	data := make([]byte, 200<<10)
	rand.Read(data)
	file := filepath.Join(dir, "blob")
	os.WriteFile(file, data, 0o644)
	sub := committed(t, "submit", "shared/doc", file, "--from", "alice", "--home", user, "--api", b.api)
	tu.Eventually(t, 30*time.Second, func() bool {
		r := cli(t, "", "record", "shared/doc", "--json", "--api", a.api)
		var rec struct {
			Height int64 `json:"height"`
		}
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &rec) == nil && rec.Height == sub.Height
	}, "the record submitted through B on A")
	// Neither node's operator may write into alice's namespace.
	for _, n := range []struct{ home, api string }{{aHome, a.api}, {bHome, b.api}} {
		if r = cli(t, "", "submit", "shared/intruder", file, "--home", n.home, "--api", n.api); r.code != 1 {
			t.Fatalf("operator submit through %s: %+v", n.api, r)
		}
	}

	// B's operator, funded by A's, makes B a validator, signing on B.
	bOp := showKey(t, bHome, "operator").Address
	committed(t, "send", bOp, "50000", "--home", aHome, "--api", a.api)
	committed(t, "validator", "create", "--stake", "20000", "--home", bHome, "--api", b.api)
	var bPeer struct {
		PeerID string `json:"peer_id"`
	}
	r = cli(t, "", "status", "--json", "--api", b.api)
	if json.Unmarshal([]byte(r.stdout), &bPeer) != nil {
		t.Fatalf("status B: %+v", r)
	}
	for _, api := range []string{a.api, b.api} {
		tu.Eventually(t, 30*time.Second, func() bool {
			r := cli(t, "", "validators", "--json", "--api", api)
			var vs []struct {
				Address string `json:"address"`
				PeerID  string `json:"peer_id"`
				Power   int64  `json:"power"`
				Status  string `json:"status"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.stdout), &vs) != nil {
				return false
			}
			for _, v := range vs {
				if v.PeerID == bPeer.PeerID && v.Address == bOp && v.Status == "active" && v.Power == 20000 {
					return len(vs) == 2
				}
			}
			return false
		}, "B an active validator on %s", api)
	}
	if acc := account(t, bHome, b.api); acc.Bonded != 20000 || acc.Balance != 30000 {
		t.Fatalf("B's operator after validator create: %+v", acc)
	}

	// A third node joins and is admitted to placement with `node register`,
	// its stake bonded from a user account rather than its operator's.
	cHome := filepath.Join(dir, "c")
	c := spawnChain(t, bin, cHome, "join", st.Addrs[0])
	if r = cli(t, "", "keys", "import", "alice", filepath.Join(user, "keys", "keyring", "alice.key"), "--home", cHome); r.code != 1 || !strings.Contains(r.stderr, "xnode keys export") {
		t.Fatalf("import of a keyring file (not a key export) was accepted: %+v", r)
	}
	pem := filepath.Join(dir, "alice.pem")
	if r = cli(t, "", "keys", "export", "alice", "-o", pem, "--home", user); r.code != 0 {
		t.Fatalf("export: %+v", r)
	}
	if r = cli(t, "", "keys", "import", "alice", pem, "--home", cHome); r.code != 0 {
		t.Fatalf("import on C: %+v", r)
	}
	committed(t, "node", "register", "--stake", "100", "--from", "alice", "--home", cHome, "--api", c.api)
	if acc := account(t, user, a.api, "alice"); acc.Bonded != 100 {
		t.Fatalf("alice after bonding C: %+v", acc)
	}
	// The same peer id again is refused with the chain's reason.
	r = cli(t, "", "node", "register", "--stake", "100", "--from", "alice", "--home", cHome, "--api", c.api)
	if r.code != 1 || !strings.Contains(r.stderr, "already_registered") {
		t.Fatalf("second node register: %+v", r)
	}
}

// spawnChain runs `xnode <verb> ...` like spawn, but waits only until its
// API answers with a chain that has caught up: readiness also wants a
// member's place in the membership, which an observer does not have.
func spawnChain(t testing.TB, bin, home string, verbArgs ...string) *proc {
	t.Helper()
	apiPort := tu.FreePort(t)
	args := append(verbArgs, "--home", home,
		"--api-listen", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tu.FreePort(t)),
		"--cmt-p2p-listen", fmt.Sprintf("127.0.0.1:%d", tu.FreePort(t)),
		"--cmt-rpc-listen", fmt.Sprintf("127.0.0.1:%d", tu.FreePort(t)))
	p := &proc{api: fmt.Sprintf("http://127.0.0.1:%d", apiPort), log: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-exited
		}
	})
	ok := tu.WaitFor(90*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		r := cli(t, "", "status", "--json", "--api", p.api)
		var st struct {
			Height     int64 `json:"height"`
			CatchingUp bool  `json:"catching_up"`
		}
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &st) == nil && st.Height > 0 && !st.CatchingUp
	})
	select {
	case <-exited:
		t.Fatalf("xnode %v exited early:\n%s", verbArgs, p.log)
	default:
	}
	if !ok {
		t.Fatalf("xnode %v: no caught-up chain:\n%s", verbArgs, p.log)
	}
	return p
}
