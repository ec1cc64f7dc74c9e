package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/keyring"
)

// signerFlags are the flags of a command that signs: --from and
// --passphrase-file.
type signerFlags struct {
	from     string
	passFile string
}

// register adds the flags; def is --from's default ("" when leaving it out
// means the node signs with its operator key through the older endpoints).
func (s *signerFlags) register(cmd *cobra.Command, def string) {
	usage := "sign with key NAME of the keyring under --home, and relay the transaction through the node at --api"
	if def != "" {
		usage = "sign with key NAME of the keyring under --home (default: the node's operator key)"
	}
	cmd.Flags().StringVar(&s.from, "from", def, usage)
	cmd.Flags().StringVar(&s.passFile, "passphrase-file", "", "the --from key's passphrase is the first line of FILE")
}

// newNonce returns a nonce this account has not used: the wall clock in
// nanoseconds. The chain takes any value its signer has not used before;
// the node's own counter for the operator key starts at its start time and
// counts up by one, so the two do not meet.
func newNonce() uint64 { return uint64(time.Now().UnixNano()) }

// parseAmount reads a token amount: a whole number above zero.
func parseAmount(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		return 0, usagef("%s %q is not a whole number of tokens (for example 100)", what, s)
	}
	if n == 0 {
		return 0, usagef("%s must be above 0", what)
	}
	return n, nil
}

// resolveAddress reads an account: an address (xnode1…) or the name of a
// key in the keyring under --home.
func (g *globals) resolveAddress(s string) (abci.Address, error) {
	a, perr := abci.ParseAddress(s)
	if perr == nil {
		return a, nil
	}
	if keyring.ValidateName(s) == nil && !strings.HasPrefix(s, abci.AddressPrefix+"1") {
		kr, err := g.keyring()
		if err != nil {
			return abci.Address{}, err
		}
		k, err := kr.Show(s)
		if err == nil {
			return abci.AddressOf(k.PublicKey), nil
		}
		if !errors.Is(err, xnode.ErrNotFound) {
			return abci.Address{}, explainKey(err)
		}
		return abci.Address{}, usagef("%q is neither an address (xnode1…) nor a key in %s ('xnode keys list' shows them)", s, keyring.Dir(g.home))
	}
	return abci.Address{}, usageError{fmt.Errorf("%w\nan address is bech32 with the prefix xnode (xnode1…), as 'xnode keys show NAME' prints it", perr)}
}

// build signs one transaction for the signer, the chain and a fresh nonce.
type build func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error)

// signAndRelay opens --from, signs the transaction b builds for the chain
// of the node at --api, relays it through that node, and reports its fate
// (reportTx). extra is merged into the --json answer.
func (g *globals) signAndRelay(ctx context.Context, sf signerFlags, what string, b build, extra map[string]any) (api.TxResult, error) {
	s, err := g.openSigner(sf.from, sf.passFile)
	if err != nil {
		return api.TxResult{}, err
	}
	return g.relaySigned(ctx, s, what, b, extra)
}

// relaySigned is signAndRelay with the key already open.
func (g *globals) relaySigned(ctx context.Context, s signer, what string, b build, extra map[string]any) (api.TxResult, error) {
	c, err := g.client()
	if err != nil {
		return api.TxResult{}, err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return api.TxResult{}, g.explain(err)
	}
	tx, err := b(s.priv, st.ChainID, newNonce())
	if err != nil {
		return api.TxResult{}, usageError{err}
	}
	res, err := c.RelayTx(ctx, tx)
	return res, g.reportTx(what, res, err, extra)
}

// reportTx prints a transaction's fate: committed at a height (nil), or
// pending, rejected or failed in its block (an error carrying the chain's
// reason, exit 1). With --json the fate is printed either way, as
// {"tx","status","height","code","log"} plus extra.
func (g *globals) reportTx(what string, res api.TxResult, err error, extra map[string]any) error {
	var pending *api.TxPendingError
	if res.Tx == "" {
		if err == nil {
			return fmt.Errorf("%s: the node answered without a transaction hash", what)
		}
		return g.explain(err)
	}
	if g.json {
		m := txJSON(res)
		for k, v := range extra {
			m[k] = v
		}
		if perr := printJSON(g.out, m); perr != nil {
			return perr
		}
	}
	switch {
	case errors.As(err, &pending) || res.Status == api.TxPending:
		return fmt.Errorf("%s: tx %s is pending: accepted, not in a block yet; it may still commit\n'xnode tx %s' tells its fate", what, res.Tx, res.Tx)
	case res.Status == api.TxRejected:
		return fmt.Errorf("%s: tx %s rejected: code %d (%s): %s", what, res.Tx, res.Code, abci.CodeName(res.Code), res.Log)
	case res.Status == api.TxCommitted && res.Code != 0:
		return fmt.Errorf("%s: tx %s failed in block %d: code %d (%s): %s", what, res.Tx, res.Height, res.Code, abci.CodeName(res.Code), res.Log)
	case err != nil:
		return g.explain(err)
	}
	if !g.json {
		fmt.Fprintf(g.out, "%s: tx %s committed at height %d\n", what, res.Tx, res.Height)
	}
	return nil
}

func newAccountCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "account [ADDRESS|KEY]",
		Short: "Show an account's balance, bonded and unbonding stake (default: the node's operator account)",
		Long: `Show an account: liquid balance, stake bonded to a validator or a node
registration, and stake unbonding (it returns to the balance at its release
time). ADDRESS is bech32 (xnode1…) or the name of a key in the keyring under
--home; with none, the account of the operator key of the node at --api.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("%s takes at most one ADDRESS or KEY (got %d arguments)\nusage: %s", cmd.CommandPath(), len(args), cmd.UseLine())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := api.OperatorAccount
			if len(args) == 1 {
				a, err := g.resolveAddress(args[0])
				if err != nil {
					return err
				}
				target = a.String()
			}
			return show(g, cmd.Context(), func(c *api.Client, ctx context.Context) (api.Account, error) {
				acc, err := c.Account(ctx, target)
				if acc.Unbonding == nil {
					acc.Unbonding = []api.Unbonding{}
				}
				return acc, err
			}, func(tw *tabwriter.Writer, a api.Account) {
				fmt.Fprintf(tw, "address\t%s\n", a.Address)
				fmt.Fprintf(tw, "balance\t%d\n", a.Balance)
				fmt.Fprintf(tw, "bonded\t%d\n", a.Bonded)
				for _, u := range a.Unbonding {
					fmt.Fprintf(tw, "unbonding\t%d until %s\n", u.Amount, u.ReleaseTime.Local().Format(time.RFC3339))
				}
				if a.PeerID != "" {
					fmt.Fprintf(tw, "node\t%s\n", a.PeerID)
				}
			})
		},
	}
}

func newSendCmd(g *globals) *cobra.Command {
	var sf signerFlags
	cmd := &cobra.Command{
		Use:   "send ADDRESS|KEY AMOUNT [--from NAME]",
		Short: "Transfer AMOUNT tokens to an account; prints the transaction and its fate",
		Args:  exactArgs(2, "an ADDRESS (or key name) and an AMOUNT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			to, err := g.resolveAddress(args[0])
			if err != nil {
				return err
			}
			amount, err := parseAmount("AMOUNT", args[1])
			if err != nil {
				return err
			}
			_, err = g.signAndRelay(cmd.Context(), sf, "send", func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
				return abci.NewSend(priv, chainID, nonce, to, amount)
			}, map[string]any{"to": to.String(), "amount": amount})
			return err
		},
	}
	sf.register(cmd, keyring.OperatorName)
	return cmd
}
