package light_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	cmted "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/types"

	"github.com/xnode/xnode/light"
)

func testGenesis(t *testing.T) *types.GenesisDoc {
	t.Helper()
	key := cmted.GenPrivKey().PubKey()
	doc := &types.GenesisDoc{ChainID: "chain-a", Validators: []types.GenesisValidator{{Address: key.Address(), PubKey: key, Power: 10}}}
	if err := doc.ValidateAndComplete(); err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestConfigValidate(t *testing.T) {
	good := func() light.Config {
		c := light.DefaultConfig()
		c.Primary = "http://127.0.0.1:26657"
		c.Witnesses = []string{"http://127.0.0.1:26667"}
		c.TrustRoot = light.TrustRoot{Genesis: testGenesis(t)}
		return c
	}
	c := good()
	if err := c.Validate(); err != nil || c.ChainID != "chain-a" {
		t.Fatalf("good config: %v, chain id %q", err, c.ChainID)
	}
	hash := make([]byte, 32)
	for _, tc := range []struct {
		name string
		edit func(c *light.Config)
		want string
	}{
		{"no witness", func(c *light.Config) { c.Witnesses = nil }, "at least one witness"},
		{"witness is the primary", func(c *light.Config) { c.Witnesses = []string{"http://127.0.0.1:26657/"} }, "is the primary"},
		{"witness twice", func(c *light.Config) { c.Witnesses = []string{"http://a:1", "http://a:1"} }, "given twice"},
		{"no primary", func(c *light.Config) { c.Primary = "" }, "missing RPC URL"},
		{"primary without scheme", func(c *light.Config) { c.Primary = "127.0.0.1:26657" }, "want http://HOST:PORT"},
		{"primary of another scheme", func(c *light.Config) { c.Primary = "ftp://127.0.0.1:1" }, "want http://HOST:PORT"},
		{"bad witness", func(c *light.Config) { c.Witnesses = []string{"::"} }, "witness"},
		{"no trust root", func(c *light.Config) { c.TrustRoot = light.TrustRoot{} }, "trust root: missing"},
		{"both trust roots", func(c *light.Config) { c.TrustRoot.Height, c.TrustRoot.Hash = 5, hash }, "not both"},
		{"short hash", func(c *light.Config) { c.TrustRoot = light.TrustRoot{Height: 5, Hash: hash[:20]} }, "20 bytes, want 32"},
		{"zero height", func(c *light.Config) { c.TrustRoot = light.TrustRoot{Hash: hash} }, "height 0"},
		{"header root without chain id", func(c *light.Config) { c.TrustRoot = light.TrustRoot{Height: 5, Hash: hash} }, "chain id: missing"},
		{"chain id not the genesis'", func(c *light.Config) { c.ChainID = "chain-b" }, `the genesis is of chain "chain-a"`},
		{"genesis without validators", func(c *light.Config) { c.TrustRoot.Genesis = &types.GenesisDoc{ChainID: "chain-a"} }, "lists no validators"},
		{"zero trusting period", func(c *light.Config) { c.TrustingPeriod = 0 }, "trusting period"},
		{"negative timeout", func(c *light.Config) { c.RequestTimeout = -1 }, "request timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.edit(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error saying %q", err, tc.want)
			}
			if _, err := light.New(c); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestTrustRootConstructors(t *testing.T) {
	if _, err := light.HeaderRoot(5, "zz"); err == nil || !strings.Contains(err.Error(), "not hex") {
		t.Fatalf("bad hex: %v", err)
	}
	if _, err := light.HeaderRoot(5, "ABCD"); err == nil || !strings.Contains(err.Error(), "2 bytes, want 32") {
		t.Fatalf("short hash: %v", err)
	}
	r, err := light.HeaderRoot(5, "0x"+strings.Repeat("ab", 32))
	if err != nil || r.Height != 5 || len(r.Hash) != 32 {
		t.Fatalf("good: %+v, %v", r, err)
	}
	dir := t.TempDir()
	if _, err := light.GenesisRoot(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("a missing genesis file was accepted")
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"chain_id": 5}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := light.GenesisRoot(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("a malformed genesis: %v", err)
	}
}
