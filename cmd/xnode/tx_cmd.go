package main

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
)

// newTxCmd is `xnode tx HASH`: what the node knows of a transaction, by the
// hash that the submitting commands and endpoints answer with. Exit 0 when
// the fate is known (committed, pending or rejected; the output says which),
// 1 when the node does not know the hash, 2 when HASH is not a hash.
func newTxCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tx HASH",
		Short: "A transaction's fate: committed (height, code), rejected (code, log), pending, or unknown",
		Long: `Show what the node knows of a transaction, by its hash: the 64 hex digits
that 'xnode ns register', 'xnode submit' and the API's submitting endpoints
answer with (CometBFT's /tx?hash=0x… takes the same hash).

  committed  in the block at HEIGHT; code 0 means applied, any other code a
             failure that changed nothing (log says why)
  pending    in the node's mempool, not in a block yet: it may still commit
  rejected   refused by the node's CheckTx (code, log)
  unknown    in no block the node indexed, not in its mempool: never sent
             to it, dropped, or sent to another node (exit status 1)`,
		Args: exactArgs(1, "one transaction HASH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := api.ParseTxHash(args[0]); err != nil {
				return usageError{err}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := c.Tx(cmd.Context(), args[0])
			if err != nil && !(res.Status == api.TxUnknown && errors.Is(err, xnode.ErrNotFound)) {
				return g.explain(err)
			}
			if g.json {
				if perr := printJSON(g.out, txJSON(res)); perr != nil {
					return perr
				}
			} else {
				tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
				printTx(tw, res)
				if ferr := tw.Flush(); ferr != nil {
					return ferr
				}
			}
			if res.Status == api.TxUnknown {
				return fmt.Errorf("transaction %s is unknown to the node at %s\nit is in no block the node indexed and not in its mempool: it was never sent to this node, was dropped, or went to another node; ask that node with --api", res.Tx, g.api)
			}
			return nil
		},
	}
}

// txJSON is `xnode tx --json`: {"tx","status"}, with "height" and "code"
// once committed and "code" and "log" when rejected.
func txJSON(res api.TxResult) map[string]any {
	m := map[string]any{"tx": res.Tx, "status": res.Status}
	switch res.Status {
	case api.TxCommitted:
		m["height"], m["code"] = res.Height, res.Code
	case api.TxRejected:
		m["code"] = res.Code
	}
	if res.Codespace != "" {
		m["codespace"] = res.Codespace
	}
	if res.Log != "" {
		m["log"] = res.Log
	}
	return m
}

func printTx(tw *tabwriter.Writer, res api.TxResult) {
	fmt.Fprintf(tw, "tx\t%s\n", res.Tx)
	fmt.Fprintf(tw, "status\t%s\n", res.Status)
	switch res.Status {
	case api.TxCommitted:
		fmt.Fprintf(tw, "height\t%d\n", res.Height)
		if res.Code == 0 {
			fmt.Fprintf(tw, "code\t0 (applied)\n")
		} else {
			fmt.Fprintf(tw, "code\t%d (failed: the transaction is in the block but changed nothing)\n", res.Code)
		}
	case api.TxRejected:
		fmt.Fprintf(tw, "code\t%d\n", res.Code)
	}
	if res.Log != "" {
		fmt.Fprintf(tw, "log\t%s\n", res.Log)
	}
}
