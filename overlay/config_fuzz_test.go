package overlay

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoadConfig: config.toml is written by people. LoadConfig never
// panics, and a file it accepts is a valid Config that WriteConfig renders
// and LoadConfig reads back to the same values.
func FuzzLoadConfig(f *testing.F) {
	dir := f.TempDir()
	seed := func(cfg Config) []byte {
		path := filepath.Join(dir, "seed.toml")
		if err := WriteConfig(path, cfg); err != nil {
			f.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add(seed(DefaultConfig()))
	full := DefaultConfig()
	full.Moniker = `a "quoted" name`
	full.P2P.Bootstrap = []string{"/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh1NszJZGSkBkGM5Jd3QT6rdpLD6WtfGPxK9SUUvN"}
	full.Gossip.Tags = map[string]string{"zone": "eu-1", "weird key": "v=1"}
	f.Add(seed(full))
	f.Add([]byte(""))
	f.Add([]byte("moniker = \"x\"\n"))
	f.Add([]byte("[api]\nlisten = \"127.0.0.1:0\"\n"))
	f.Add([]byte("[repair]\ngrace = \"30s\"\n"))
	f.Add([]byte("[repair]\ngrace = \"-1s\"\n"))
	f.Add([]byte("[repair]\ngrace = 30\n"))
	f.Add([]byte("nosuchfield = 1\n"))
	f.Add([]byte("[log]\nlevel = \"loud\"\n"))
	f.Add([]byte("[gossip.tags]\n\"\" = \"x\"\n"))
	f.Add([]byte("[[api]]\n"))

	in := filepath.Join(dir, "config.toml")
	out := filepath.Join(dir, "again.toml")
	f.Fuzz(func(t *testing.T, file []byte) {
		if err := os.WriteFile(in, file, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig(in)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
		if err := WriteConfig(out, cfg); err != nil {
			t.Fatalf("an accepted config does not render: %v", err)
		}
		again, err := LoadConfig(out)
		if err != nil {
			t.Fatalf("the rendered config does not load: %v", err)
		}
		if !reflect.DeepEqual(cfg, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
	})
}
