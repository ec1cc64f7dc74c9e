package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
)

func newNSCmd(g *globals) *cobra.Command {
	ns := &cobra.Command{Use: "ns", Short: "Namespaces: claim a name (for this node's key, or --from a key of yours), say who publishes its services"}
	ns.AddCommand(withFrom(g, &cobra.Command{
		Use:   "register NAME",
		Short: "Claim a namespace for this node's operator key (first come, first served)",
		Args:  exactArgs(1, "one NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.RegisterNamespace(cmd.Context(), args[0])
			if errors.Is(err, xnode.ErrConflict) {
				return fmt.Errorf("%w\nthe name is taken; pick another", err)
			}
			if errors.Is(err, xnode.ErrInvalidArgument) {
				return fmt.Errorf("%w\nnames are 3-63 characters of a-z, 0-9 and '-', starting with a letter", err)
			}
			if err != nil {
				return g.explain(err)
			}
			if g.json {
				return printJSON(g.out, map[string]any{"name": args[0], "height": res.Height, "tx": res.Tx})
			}
			fmt.Fprintf(g.out, "registered %s at height %d\n", args[0], res.Height)
			return nil
		},
	}, nsRegisterSigned(g))) // --from: staking_cmds.go
	ns.AddCommand(newNSShowCmd(g)) // verify_cmds.go
	// allow, disallow: staking_cmds.go
	ns.AddCommand(newNSPublisherCmd(g, true), newNSPublisherCmd(g, false))
	return ns
}

// splitRecordName splits NAMESPACE/KEY.
func splitRecordName(s string) (string, string, error) {
	ns, key, ok := strings.Cut(s, "/")
	if !ok || ns == "" || key == "" {
		return "", "", usagef("%q is not NAMESPACE/KEY (for example demo/hello)", s)
	}
	return ns, key, nil
}

func newSubmitCmd(g *globals) *cobra.Command {
	return withFrom(g, &cobra.Command{
		Use:   "submit NAMESPACE/KEY FILE|CID",
		Short: "Store a file (or use a stored blob's CID) and commit a record for it; prints the height",
		Args:  exactArgs(2, "NAMESPACE/KEY and a FILE or CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, key, err := splitRecordName(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			target := args[1]
			if _, err := os.Stat(target); err == nil || target == "-" {
				put, err := putFile(cmd.Context(), g, c, target)
				if err != nil {
					return err
				}
				target = put.CID
			} else if _, perr := block.Parse(target); perr != nil {
				return fmt.Errorf("%q is neither a readable file nor a CID\ngive a file to store, or the root CID of a stored blob", target)
			}
			res, err := c.SubmitRecord(cmd.Context(), ns, key, target)
			switch {
			case errors.Is(err, xnode.ErrNotFound) && strings.Contains(err.Error(), "namespace"):
				return fmt.Errorf("%w\nregister the namespace first ('xnode ns register %s')", err, ns)
			case errors.Is(err, xnode.ErrNotFound):
				return fmt.Errorf("%w\nno member holds that blob: store it first ('xnode put FILE'), or give the file instead of its CID", err)
			case errors.Is(err, xnode.ErrConflict):
				return fmt.Errorf("%w\nthe namespace belongs to another key", err)
			case err != nil:
				return g.explain(err)
			}
			if g.json {
				return printJSON(g.out, map[string]any{"namespace": ns, "key": key, "cid": target, "height": res.Height, "tx": res.Tx})
			}
			fmt.Fprintf(g.out, "committed %s/%s → %s at height %d\n", ns, key, target, res.Height)
			return nil
		},
	}, submitSigned(g)) // --from: staking_cmds.go
}

func newRecordCmd(g *globals) *cobra.Command {
	return withVerify(g, &cobra.Command{ // --verify: verify_cmds.go
		Use:   "record NAMESPACE/KEY",
		Short: "Show a committed record and its verification state",
		Args:  exactArgs(1, "NAMESPACE/KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, key, err := splitRecordName(args[0])
			if err != nil {
				return err
			}
			return show(g, cmd.Context(), func(c *api.Client, ctx context.Context) (api.Record, error) {
				return c.Record(ctx, ns, key)
			}, func(tw *tabwriter.Writer, r api.Record) {
				fmt.Fprintf(tw, "record\t%s/%s (version %d)\n", r.Namespace, r.Key, r.Version)
				fmt.Fprintf(tw, "cid\t%s\n", r.CID)
				fmt.Fprintf(tw, "size\t%d bytes\n", r.Size)
				fmt.Fprintf(tw, "height\t%d\n", r.Height)
				fmt.Fprintf(tw, "status\t%s\n", r.Status)
				for _, a := range r.Attestations {
					verdict := "ok"
					if !a.OK {
						verdict = "MISMATCH " + a.Reason
					}
					fmt.Fprintf(tw, "attestation\t%s… power %d at %d: %s\n", a.Validator[:min(12, len(a.Validator))], a.Power, a.Height, verdict)
				}
			})
		},
	})
}
