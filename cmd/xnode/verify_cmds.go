package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/light"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// verifyFlags are the light client's flags, shared by every --verify read.
type verifyFlags struct {
	verify         bool
	rpc            []string
	genesis        string
	trustHeight    int64
	trustHash      string
	trustingPeriod time.Duration
	timeout        time.Duration
}

func (f *verifyFlags) add(fs *pflag.FlagSet, verifyFlag bool) {
	if verifyFlag {
		fs.BoolVar(&f.verify, "verify", false, "check the answer with the light client instead of trusting the node (needs --rpc)")
	}
	fs.StringSliceVar(&f.rpc, "rpc", nil, "CometBFT RPC URLs for --verify, comma separated: the first answers, the others (at least one) cross-check it (default, for a localnet node's --home: its RPC, then the other nodes')")
	fs.StringVar(&f.genesis, "genesis", "", "trust root: the genesis file whose validators are trusted (default the home's cometbft/config/genesis.json)")
	fs.Int64Var(&f.trustHeight, "trust-height", 0, "trust root: the height of a header trusted out of band (with --trust-hash)")
	fs.StringVar(&f.trustHash, "trust-hash", "", "trust root: the hex hash of the header at --trust-height")
	fs.DurationVar(&f.trustingPeriod, "trusting-period", light.DefaultConfig().TrustingPeriod, "how long a trusted header may be used to verify newer ones")
	fs.DurationVar(&f.timeout, "timeout", 60*time.Second, "give up verifying after this long")
}

// verifier builds and starts a light client from the flags.
func (f *verifyFlags) verifier(ctx context.Context, g *globals) (*light.Verifier, error) {
	if len(f.rpc) == 0 {
		f.rpc = localnetRPC(g.home)
	}
	if len(f.rpc) < 2 {
		return nil, usagef("%s", f.rpcHelp(g))
	}
	cfg := light.DefaultConfig()
	cfg.Primary = rpcURL(f.rpc[0])
	for _, w := range f.rpc[1:] {
		cfg.Witnesses = append(cfg.Witnesses, rpcURL(w))
	}
	cfg.TrustingPeriod = f.trustingPeriod
	switch {
	case f.trustHeight != 0 || f.trustHash != "":
		if f.genesis != "" {
			return nil, usagef("give either --genesis or --trust-height with --trust-hash, not both")
		}
		if f.trustHeight <= 0 || f.trustHash == "" {
			return nil, usagef("--trust-height H and --trust-hash HEX go together (a header's height and hash, e.g. from 'curl RPC/commit?height=H')")
		}
		root, err := light.HeaderRoot(f.trustHeight, f.trustHash)
		if err != nil {
			return nil, usageError{err}
		}
		cfg.TrustRoot = root
	default:
		path := f.genesis
		if path == "" {
			path = filepath.Join(overlay.Home(g.home).CometHome(), "config", "genesis.json")
		}
		root, err := light.GenesisRoot(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w\ngive the network's genesis file with --genesis FILE, or a trusted header with --trust-height and --trust-hash", err)
		}
		if err != nil {
			return nil, err
		}
		cfg.TrustRoot = root
	}
	if err := cfg.Validate(); err != nil {
		return nil, usageError{err}
	}
	v, err := light.New(cfg)
	if err != nil {
		return nil, usageError{err}
	}
	if err := v.Start(ctx); err != nil {
		return nil, explainVerify(err, cfg.Primary)
	}
	return v, nil
}

// localnetRPC is the default --rpc when the home is a node of a localnet:
// that node's CometBFT RPC first, then the other nodes'. It is nil
// otherwise (the API does not publish RPC addresses).
func localnetRPC(home string) []string {
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil
	}
	l, err := localnet.LoadLayout(filepath.Dir(abs))
	if err != nil {
		return nil
	}
	var own, others []string
	for _, n := range l.Nodes {
		if n.Ports.CometRPC == 0 {
			continue
		}
		u := fmt.Sprintf("http://127.0.0.1:%d", n.Ports.CometRPC)
		if filepath.Clean(n.Home) == abs {
			own = append(own, u)
		} else {
			others = append(others, u)
		}
	}
	if len(own) == 0 {
		return nil
	}
	return append(own, others...)
}

// rpcHelp says why --rpc is needed and where this home's RPC is.
func (f *verifyFlags) rpcHelp(g *globals) string {
	msg := fmt.Sprintf("--verify needs --rpc with at least two CometBFT RPC URLs (got %d): the first answers, the others cross-check it, and no single node is trusted.\nthe node API does not publish the nodes' RPC addresses", len(f.rpc))
	if cfg, err := overlay.LoadConfig(overlay.Home(g.home).ConfigPath()); err == nil && cfg.Consensus.RPCListen != "" {
		msg += fmt.Sprintf("; this home's node serves RPC at http://%s (config.toml consensus.rpc_listen)", cfg.Consensus.RPCListen)
	}
	return msg + "\nexample: --rpc http://127.0.0.1:26657,http://127.0.0.1:26667"
}

// rpcURL adds http:// to a bare HOST:PORT.
func rpcURL(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "://") {
		return "http://" + s
	}
	return s
}

// explainVerify adds what to do to a refusal.
func explainVerify(err error, primary string) error {
	switch {
	case errors.Is(err, light.ErrQueryFailed):
		return fmt.Errorf("%w\ncheck that the --rpc URLs are CometBFT RPC addresses of running nodes", err)
	case errors.Is(err, light.ErrTrustExpired):
		return fmt.Errorf("%w\ngive a recent trusted header with --trust-height and --trust-hash, or a longer --trusting-period", err)
	case errors.Is(err, light.ErrTrustRoot):
		return fmt.Errorf("%w\ncheck that --genesis (or --trust-height/--trust-hash) is of this network", err)
	case errors.Is(err, light.ErrWitnessConflict):
		return fmt.Errorf("refused: %w\nthe nodes in --rpc disagree: one of them, possibly %s, is lying or on another chain", err, primary)
	}
	return fmt.Errorf("refused: %w\nthe node at %s answered something the chain does not prove; do not trust it", err, primary)
}

// verified runs one verified read and prints it: value (through table)
// and the verification line, or with --json the result and the proof.
func verified(cmd *cobra.Command, g *globals, f *verifyFlags, what string, read func(context.Context, *light.Verifier) (light.Result, error), table func(tw *tabwriter.Writer, v any)) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	v, err := f.verifier(ctx, g)
	if err != nil {
		return err
	}
	defer v.Close()
	res, err := read(ctx, v)
	if err != nil {
		return explainVerify(err, rpcURL(f.rpc[0]))
	}
	if g.json {
		if err := printJSON(g.out, verifiedJSON(res)); err != nil {
			return err
		}
	} else if res.Found {
		tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
		table(tw, res.Value)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(g.out, res.String())
	}
	if !res.Found {
		return fmt.Errorf("no %s: its absence is %s", what, res.String())
	}
	return nil
}

func verifiedJSON(res light.Result) map[string]any {
	return map[string]any{
		"found":         res.Found,
		"value":         res.Value,
		"height":        res.Height,
		"header_height": res.HeaderHeight,
		"header_hash":   fmt.Sprintf("%X", res.HeaderHash),
		"app_hash":      fmt.Sprintf("%X", res.AppHash),
		"signed_power":  res.SignedPower,
		"total_power":   res.TotalPower,
		"verified":      res.String(),
		"proof":         res.Proof,
	}
}

// withVerify gives the record command --verify and the light client's
// flags: with --verify it reads through the light client instead of the
// API.
func withVerify(g *globals, cmd *cobra.Command) *cobra.Command {
	var f verifyFlags
	f.add(cmd.Flags(), true)
	plain := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !f.verify {
			if len(f.rpc) > 0 {
				return usagef("--rpc is for --verify; add --verify to check the record with the light client")
			}
			return plain(cmd, args)
		}
		ns, key, err := splitRecordName(args[0])
		if err != nil {
			return err
		}
		return verified(cmd, g, &f, "record "+args[0], func(ctx context.Context, v *light.Verifier) (light.Result, error) {
			return v.Record(ctx, ns, key)
		}, func(tw *tabwriter.Writer, v any) {
			r := v.(abci.Record)
			fmt.Fprintf(tw, "record\t%s/%s (version %d)\n", r.Namespace, r.Key, r.Version)
			fmt.Fprintf(tw, "cid\t%s\n", r.CID)
			fmt.Fprintf(tw, "size\t%d bytes\n", r.Size)
			fmt.Fprintf(tw, "height\t%d\n", r.Height)
			fmt.Fprintf(tw, "owner\t%X\n", r.Owner)
			fmt.Fprintf(tw, "status\t%s\n", r.Status)
			for _, a := range r.Attestations {
				verdict := "ok"
				if !a.OK {
					verdict = "MISMATCH " + a.Reason
				}
				fmt.Fprintf(tw, "attestation\t%X… power %d at %d: %s\n", a.Validator[:min(6, len(a.Validator))], a.Power, a.Height, verdict)
			}
		})
	}
	return cmd
}

// newNSShowCmd is `xnode ns show NAME --verify`.
func newNSShowCmd(g *globals) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "show NAME --verify --rpc URL,URL...",
		Short: "Show a namespace and its owner, checked by the light client",
		Long: `Show a namespace and its owner key, read from one CometBFT RPC node and
checked by the light client against the chain (the node API has no plain read of
a namespace, so this always verifies; --verify is accepted for symmetry).`,
		Args: exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return verified(cmd, g, &f, "namespace "+args[0], func(ctx context.Context, v *light.Verifier) (light.Result, error) {
				return v.Namespace(ctx, args[0])
			}, func(tw *tabwriter.Writer, v any) {
				ns := v.(abci.Namespace)
				fmt.Fprintf(tw, "namespace\t%s\n", ns.Name)
				fmt.Fprintf(tw, "owner\t%X\n", ns.Owner)
				fmt.Fprintf(tw, "registered at\t%d\n", ns.Height)
			})
		},
	}
	f.add(cmd.Flags(), true)
	return cmd
}

// newParamsCmd is `xnode params --verify`.
func newParamsCmd(g *globals) *cobra.Command {
	var f verifyFlags
	cmd := &cobra.Command{
		Use:   "params --verify --rpc URL,URL...",
		Short: "Show the network parameters, checked by the light client",
		Long: `Show the network parameters, read from one CometBFT RPC node and checked by
the light client against the chain (always verified; --verify is accepted for
symmetry).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return verified(cmd, g, &f, "parameters", func(ctx context.Context, v *light.Verifier) (light.Result, error) {
				return v.Params(ctx)
			}, func(tw *tabwriter.Writer, v any) {
				b, err := json.Marshal(v.(abci.Params))
				var fields map[string]any
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber() // 600000000000, not 6e+11
				if err == nil && dec.Decode(&fields) == nil {
					for _, k := range slices.Sorted(maps.Keys(fields)) {
						fmt.Fprintf(tw, "%s\t%v\n", k, fields[k])
					}
				}
			})
		},
	}
	f.add(cmd.Flags(), true)
	return cmd
}
