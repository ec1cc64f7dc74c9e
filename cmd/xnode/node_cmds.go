package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/overlay"
)

// listenFlags are the contract's listen flags, shared by init, start and join.
type listenFlags struct {
	api, p2p, cmtP2P, cmtRPC string
}

func (l *listenFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&l.api, "api-listen", "", "HTTP API HOST:PORT (overrides config.toml)")
	f.StringVar(&l.p2p, "p2p-listen", "", "libp2p listen MULTIADDR; the QUIC address is derived on the same port (overrides config.toml)")
	f.StringVar(&l.cmtP2P, "cmt-p2p-listen", "", "CometBFT peer HOST:PORT (overrides config.toml)")
	f.StringVar(&l.cmtRPC, "cmt-rpc-listen", "", "CometBFT RPC HOST:PORT (overrides config.toml)")
}

// apply overrides cfg with the flags that were given.
func (l *listenFlags) apply(cfg *overlay.Config) error {
	if l.api != "" {
		cfg.API.Listen = l.api
	}
	if l.p2p != "" {
		addrs, err := overlay.ListenAddrs(l.p2p)
		if err != nil {
			return usageError{err}
		}
		cfg.P2P.Listen = addrs
	}
	if l.cmtP2P != "" {
		cfg.Consensus.P2PListen = l.cmtP2P
	}
	if l.cmtRPC != "" {
		cfg.Consensus.RPCListen = l.cmtRPC
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

func newInitCmd(g *globals) *cobra.Command {
	var chainID, moniker string
	var lf listenFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node home: keys, config.toml and a single-validator genesis",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := overlay.DefaultConfig()
			if moniker != "" {
				cfg.Moniker = moniker
			}
			if err := lf.apply(&cfg); err != nil {
				return err
			}
			h := overlay.Home(g.home)
			if err := overlay.Init(h, overlay.InitOptions{ChainID: chainID, Config: cfg}); err != nil {
				if errors.Is(err, xnode.ErrConflict) {
					return fmt.Errorf("%w\nthe home is already set up: run 'xnode start --home %s', or pick another --home", err, g.home)
				}
				return err
			}
			if g.json {
				return printJSON(g.out, map[string]string{"home": g.home, "chain_id": chainIDOr(chainID)})
			}
			fmt.Fprintf(g.out, "initialised %s for chain %s\nnext: xnode start --home %s\n", g.home, chainIDOr(chainID), g.home)
			return nil
		},
	}
	cmd.Flags().StringVar(&chainID, "chain-id", "xnode-dev", "chain id of the new network")
	cmd.Flags().StringVar(&moniker, "moniker", "", "human name of this node (default: the host name)")
	lf.register(cmd)
	return cmd
}

func chainIDOr(s string) string {
	if s == "" {
		return "xnode-dev"
	}
	return s
}

func newStartCmd(g *globals) *cobra.Command {
	var lf listenFlags
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the node in the foreground (creates a single-node dev network if there is no home)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			h := overlay.Home(g.home)
			if !h.Exists() {
				cfg := overlay.DefaultConfig()
				if err := lf.apply(&cfg); err != nil {
					return err
				}
				if err := overlay.Init(h, overlay.InitOptions{Config: cfg}); err != nil {
					return err
				}
				fmt.Fprintf(g.err, "created a single-node dev network in %s\n", g.home)
			}
			return runNode(cmd.Context(), g, h, &lf)
		},
	}
	lf.register(cmd)
	return cmd
}

func newJoinCmd(g *globals) *cobra.Command {
	var lf listenFlags
	var chainID, genesisHash, moniker string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "join MULTIADDR",
		Short: "Create a home from a running network (genesis fetched over libp2p and checked), then run as a full node",
		Args:  exactArgs(1, "one bootstrap multiaddr ending in /p2p/<peer id>"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := overlay.ParseBootstrap(args[0]); err != nil {
				return usageError{fmt.Errorf("%w\nexample: xnode join /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW... (see 'xnode status' on a member)", err)}
			}
			h := overlay.Home(g.home)
			if h.Exists() {
				return fmt.Errorf("home %s already exists; nothing was changed\nrun 'xnode start --home %s' to run it, or pick another --home", g.home, g.home)
			}
			cfg := overlay.DefaultConfig()
			if moniker != "" {
				cfg.Moniker = moniker
			}
			if err := lf.apply(&cfg); err != nil {
				return err
			}
			info, err := overlay.Join(cmd.Context(), h, cfg, overlay.JoinOptions{
				Bootstrap: args[0], ChainID: chainID, GenesisHash: genesisHash, Timeout: timeout,
			})
			if err != nil {
				return fmt.Errorf("join: %w\nnothing was written", err)
			}
			fmt.Fprintf(g.err, "joined chain %s (genesis %s) through %s; home %s\n", info.ChainID, info.GenesisHash, args[0], g.home)
			return runNode(cmd.Context(), g, h, &listenFlags{})
		},
	}
	lf.register(cmd)
	cmd.Flags().StringVar(&chainID, "chain-id", "", "refuse to join unless the network has this chain id")
	cmd.Flags().StringVar(&genesisHash, "genesis-hash", "", "refuse to join unless the genesis has this sha256 (hex)")
	cmd.Flags().StringVar(&moniker, "moniker", "", "human name of this node (default: the host name)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Second, "how long to try the bootstrap peer")
	return cmd
}

// runNode runs the node in h until SIGINT or SIGTERM, then leaves the
// membership gracefully and shuts down.
func runNode(parent context.Context, g *globals, h overlay.Home, lf *listenFlags) error {
	cfg, err := overlay.LoadConfig(h.ConfigPath())
	if err != nil {
		return fmt.Errorf("%w\nfix %s or move it away to start afresh", err, h.ConfigPath())
	}
	if err := lf.apply(&cfg); err != nil {
		return err
	}
	log := newLogger(g.err, cfg.Log)
	n, err := overlay.New(overlay.Options{Home: h, Config: cfg, Version: version, Logger: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if n.Observer() {
		// A joined node holds no data until the chain admits it.
		fmt.Fprintln(g.err, overlay.ObserverHint)
	}
	// The banner is for a person at a terminal; a log file or journal gets
	// only the JSON lines ("node started" carries the same facts).
	if isTerminal(g.err) {
		addrs := n.Addrs()
		fmt.Fprintf(g.err, "\nxnode %s is running\n  peer id  %s\n  API      %s\n", version, n.ID(), n.APIURL())
		if len(addrs) > 0 {
			fmt.Fprintf(g.err, "  join it  xnode join %s --home OTHER_DIR --api-listen ... \n", addrs[0])
		}
		fmt.Fprintf(g.err, "try:\n  xnode put FILE --api %s\n  xnode status --api %s\nCtrl-C stops the node.\n\n", n.APIURL(), n.APIURL())
	}
	<-ctx.Done()
	log = log.With("node", n.ID().String())
	log.Info("shutting down")
	lctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := n.Leave(lctx); err != nil {
		log.Warn("graceful leave failed", "err", err)
	}
	return n.Close()
}

// newLogger logs text on a terminal and JSON otherwise. Durations read as
// in the text form ("1.5s") in JSON too, rather than as nanoseconds.
func newLogger(w io.Writer, lc overlay.LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(lc.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationText}
	format := lc.Format
	if format == "auto" {
		format = "json"
		if isTerminal(w) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
