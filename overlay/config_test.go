package overlay_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode/overlay"
)

func TestConfigRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.toml")
	cfg := overlay.DefaultConfig()
	cfg.Moniker = `quote"me`
	cfg.P2P.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWP815oEHekGiLfgpkXUg21vQN3VYnJJGA8qqU9JtTZtvb"}
	cfg.Gossip.Tags = map[string]string{"zone": "a", "rack": "7"}
	cfg.Repair.Grace = overlay.Duration(45 * time.Second)
	if err := overlay.WriteConfig(path, cfg); err != nil {
		t.Fatal(err)
	}
	got, err := overlay.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", got, cfg)
	}
	// Every field is documented: each key line follows a comment line.
	raw, _ := os.ReadFile(path)
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		if strings.Contains(l, " = ") && !strings.HasPrefix(l, "#") && i > 0 && !strings.HasPrefix(lines[i-1], "#") &&
			!strings.Contains(lines[i-1], " = ") {
			t.Errorf("undocumented setting: %q", l)
		}
	}
}

func TestConfigErrorsNameFieldAndValue(t *testing.T) {
	for _, tc := range []struct {
		mutate func(*overlay.Config)
		want   []string
	}{
		{func(c *overlay.Config) { c.API.Listen = "nonsense" }, []string{"api.listen", "nonsense"}},
		{func(c *overlay.Config) { c.P2P.Listen = []string{"/ip4/bad"} }, []string{"p2p.listen[0]", "/ip4/bad"}},
		{func(c *overlay.Config) { c.P2P.Bootstrap = []string{"/ip4/127.0.0.1/tcp/1"} }, []string{"p2p.bootstrap[0]", "/p2p/"}},
		{func(c *overlay.Config) { c.Log.Level = "loud" }, []string{"log.level", "loud"}},
		{func(c *overlay.Config) { c.Repair.Concurrency = 0 }, []string{"repair.concurrency", "0"}},
		{func(c *overlay.Config) { c.Consensus.PersistentPeers = []string{"x@y"} }, []string{"consensus.persistent_peers[0]", "x@y"}},
	} {
		cfg := overlay.DefaultConfig()
		tc.mutate(&cfg)
		err := cfg.Validate()
		if err == nil {
			t.Fatalf("accepted %v", tc.want)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not name %q", err, w)
			}
		}
	}
	// An unknown key in the file is an error that names it.
	path := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(path, []byte("moniker = \"x\"\n[api]\nlisten_typo = \"1\"\n"), 0o644)
	if _, err := overlay.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "listen_typo") {
		t.Fatalf("unknown key: %v", err)
	}
}

func TestIdentityPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "identity.key")
	os.MkdirAll(filepath.Dir(path), 0o700)
	a, err := overlay.LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := overlay.LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equals(b) {
		t.Fatal("identity changed between loads")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("identity key mode %v", st.Mode().Perm())
	}
}
