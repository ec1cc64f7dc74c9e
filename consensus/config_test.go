package consensus

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesFieldAndValue(t *testing.T) {
	valid := DevConfig()
	valid.Home = "/tmp/x"
	if err := valid.Validate(); err != nil {
		t.Fatalf("dev config: %v", err)
	}
	def := DefaultConfig()
	def.Home = "/tmp/x"
	if err := def.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"home", func(c *Config) { c.Home = "" }, "Home"},
		{"p2p no port", func(c *Config) { c.P2PListen = "127.0.0.1" }, `P2PListen "127.0.0.1"`},
		{"p2p port 0", func(c *Config) { c.P2PListen = "127.0.0.1:0" }, `P2PListen "127.0.0.1:0"`},
		{"rpc", func(c *Config) { c.RPCListen = "nope" }, `RPCListen "nope"`},
		{"external", func(c *Config) { c.ExternalAddress = ":1" }, `ExternalAddress ":1"`},
		{"peer no id", func(c *Config) { c.PersistentPeers = []string{"127.0.0.1:26656"} }, `PersistentPeers entry "127.0.0.1:26656"`},
		{"peer bad id", func(c *Config) { c.PersistentPeers = []string{"xyz@127.0.0.1:26656"} }, `"xyz@127.0.0.1:26656"`},
		{"timeout commit", func(c *Config) { c.TimeoutCommit = 0 }, "TimeoutCommit 0s"},
		{"timeout propose", func(c *Config) { c.TimeoutPropose = -time.Second }, "TimeoutPropose -1s"},
		{"empty interval", func(c *Config) { c.CreateEmptyBlocksInterval = -1 }, "CreateEmptyBlocksInterval"},
		{"mempool size", func(c *Config) { c.MempoolSize = 0 }, "MempoolSize 0"},
		{"mempool bytes", func(c *Config) { c.MempoolMaxTxsBytes = 1 }, "MempoolMaxTxsBytes 1"},
		{"moniker", func(c *Config) { c.Moniker = "nœud" }, `Moniker "nœud"`},
		{"log level", func(c *Config) { c.LogLevel = "loud" }, `LogLevel "loud"`},
	}
	for _, tc := range cases {
		c := valid
		tc.mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want mention of %s", tc.name, err, tc.want)
		}
	}
	good := valid
	good.PersistentPeers = []string{strings.Repeat("ab", 20) + "@127.0.0.1:26656"}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid peer: %v", err)
	}
}

func TestCometConfigCarriesSettings(t *testing.T) {
	c := DevConfig()
	c.Home = "/tmp/home"
	c.RPCListen = ""
	c.PersistentPeers = []string{"a@1.2.3.4:5", "b@1.2.3.4:6"}
	cc := c.cometConfig()
	if cc.RootDir != "/tmp/home" || cc.P2P.ListenAddress != "tcp://127.0.0.1:26656" || cc.RPC.ListenAddress != "" ||
		cc.P2P.PersistentPeers != "a@1.2.3.4:5,b@1.2.3.4:6" || cc.Consensus.TimeoutCommit != c.TimeoutCommit ||
		cc.Instrumentation.Prometheus || !cc.P2P.AllowDuplicateIP || cc.P2P.AddrBookStrict || cc.TxIndex.Indexer != "null" {
		t.Fatalf("comet config not derived from Config: %+v %+v", cc.P2P, cc.Consensus)
	}
	if err := cc.ValidateBasic(); err != nil {
		t.Fatalf("derived config invalid for CometBFT: %v", err)
	}
}

func TestLoggerAdapterLevels(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	a := newSlogAdapter(log, "info").With("module", "consensus")
	a.Info("finalizing commit of block", "height", 5)
	a.Info("Added peer", "peer", "x")
	a.Debug("very chatty")
	a.Error("oops", "err", "boom")
	a.Error("Stopping peer for error", "err", "EOF")
	a.Error("Failed to add block", "err", errors.New("got an already committed block #49"))
	a.Error("Failed to add block", "err", errors.New("invalid signature"))
	out := buf.String()
	for _, want := range []string{
		`level=DEBUG msg="finalizing commit of block" module=consensus height=5`,
		`level=INFO msg="Added peer" module=consensus peer=x`,
		`level=ERROR msg=oops module=consensus err=boom`,
		// A peer connection that ended is routine, not an error.
		`level=INFO msg="Stopping peer for error" module=consensus err=EOF`,
		// A block a syncing node already had is not worth a warning; any
		// other failure to add one stays an error.
		`level=DEBUG msg="Failed to add block" module=consensus err="got an already committed block #49"`,
		`level=ERROR msg="Failed to add block" module=consensus err="invalid signature"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "very chatty") {
		t.Errorf("CometBFT debug line passed at level info:\n%s", out)
	}

	buf.Reset()
	e := newSlogAdapter(log, "error")
	e.Info("Added peer")
	e.Error("bad")
	if strings.Contains(buf.String(), "Added peer") || !strings.Contains(buf.String(), "bad") {
		t.Errorf("level error: %s", buf.String())
	}
	buf.Reset()
	newSlogAdapter(log, "debug").Debug("very chatty")
	if !strings.Contains(buf.String(), "very chatty") {
		t.Errorf("level debug dropped a debug line")
	}
}
