package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/spf13/cobra"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/keyring"
	"github.com/xnode/xnode/overlay"
)

// nodeKeys reads the keys of the node at --home: its consensus (operator)
// key and its libp2p identity. Neither is ever created here.
func (g *globals) nodeKeys() (ed25519.PrivateKey, libp2pcrypto.PrivKey, error) {
	h := overlay.Home(g.home)
	if !h.Exists() {
		return nil, nil, fmt.Errorf("%s is not a node's home (no config.toml)\nrun this on the node, with --home pointing at its home", g.home)
	}
	cons, err := overlay.LoadOperatorKey(h.OperatorPath())
	if err != nil {
		return nil, nil, err
	}
	id, err := loadIdentity(h.IdentityPath())
	if err != nil {
		return nil, nil, err
	}
	return cons, id, nil
}

func loadIdentity(path string) (libp2pcrypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("node identity: %w", err)
	}
	k, err := libp2pcrypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("node identity %s: %w", path, err)
	}
	return k, nil
}

func newValidatorCmd(g *globals) *cobra.Command {
	v := &cobra.Command{
		Use:   "validator",
		Short: "This node as a validator: create, bond, unbond, unjail",
	}
	v.AddCommand(newValidatorCreateCmd(g),
		newStakeCmd(g, "bond", "Bond AMOUNT more tokens to the --from account's validator or node registration", abci.NewBond),
		newStakeCmd(g, "unbond", "Start unbonding AMOUNT tokens; they return to the balance after the chain's unbonding time", abci.NewUnbond),
		newUnjailCmd(g))
	return v
}

func newValidatorCreateCmd(g *globals) *cobra.Command {
	var sf signerFlags
	var stake string
	cmd := &cobra.Command{
		Use:   "create --stake N [--from NAME]",
		Short: "Make this node a validator: bind its consensus key and peer id to the --from account, bonding N",
		Long: `Make the node whose home is --home a validator. The transaction binds the
node's CometBFT consensus key (keys/operator.key) and its libp2p peer id
(keys/identity.key) to the --from account (default: the operator account);
both node keys sign the binding. N tokens move from the account's balance
into the validator's stake; the peer id is admitted to placement too.
Voting power follows stake; the top max_validators are active.`,
		Args: exactArgs(0, "no arguments (the stake is --stake N)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if stake == "" {
				return usagef("xnode validator create needs --stake N (the tokens to bond)")
			}
			amount, err := parseAmount("--stake", stake)
			if err != nil {
				return err
			}
			cons, id, err := g.nodeKeys()
			if err != nil {
				return err
			}
			pid, _ := peer.IDFromPrivateKey(id)
			_, err = g.signAndRelay(cmd.Context(), sf, "validator create", func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
				return abci.NewCreateValidator(priv, chainID, nonce, cons, id, amount)
			}, map[string]any{"peer_id": pid.String(), "stake": amount})
			return err
		},
	}
	cmd.Flags().StringVar(&stake, "stake", "", "tokens to bond (required)")
	sf.register(cmd, keyring.OperatorName)
	return cmd
}

func newStakeCmd(g *globals, verb, short string, b func(ed25519.PrivateKey, string, uint64, uint64) ([]byte, error)) *cobra.Command {
	var sf signerFlags
	cmd := &cobra.Command{
		Use:   verb + " AMOUNT [--from NAME]",
		Short: short,
		Args:  exactArgs(1, "one AMOUNT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount("AMOUNT", args[0])
			if err != nil {
				return err
			}
			_, err = g.signAndRelay(cmd.Context(), sf, "validator "+verb, func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
				return b(priv, chainID, nonce, amount)
			}, map[string]any{"amount": amount})
			return err
		},
	}
	sf.register(cmd, keyring.OperatorName)
	return cmd
}

func newUnjailCmd(g *globals) *cobra.Command {
	var sf signerFlags
	cmd := &cobra.Command{
		Use:   "unjail [--from NAME]",
		Short: "Let a jailed validator vote again once its jail time is over",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := g.signAndRelay(cmd.Context(), sf, "validator unjail", abci.NewUnjail, nil)
			return err
		},
	}
	sf.register(cmd, keyring.OperatorName)
	return cmd
}

func newValidatorsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validators",
		Short: "Show the validator set: account, peer, power, stake, status, missed blocks",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(g, cmd.Context(), func(c *api.Client, ctx context.Context) ([]api.Validator, error) {
				vs, err := c.Validators(ctx)
				if vs == nil && err == nil {
					vs = []api.Validator{}
				}
				return vs, err
			}, func(tw *tabwriter.Writer, vs []api.Validator) {
				fmt.Fprintf(tw, "ADDRESS\tPEER\tPOWER\tSTAKE\tSTATUS\tMISSED\tJAILED UNTIL\n")
				for _, v := range vs {
					addr := v.Address
					if addr == "" {
						addr = "(genesis)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\t%s\n", addr, v.PeerID, v.Power, v.Stake, v.Status, v.Missed, v.JailedUntil)
				}
			})
		},
	}
}

func newNodeCmd(g *globals) *cobra.Command {
	n := &cobra.Command{
		Use:   "node",
		Short: "This node's registration for placement",
	}
	var sf signerFlags
	var stake string
	reg := &cobra.Command{
		Use:   "register [--stake N] [--from NAME]",
		Short: "Admit this node to placement (holding data) with N tokens bonded",
		Long: `Register the node whose home is --home for placement: its libp2p peer id
(keys/identity.key, which signs the binding) is bound to the --from account
(default: the operator account) with N tokens bonded (default 1; the chain
refuses less than its min_node_stake). Until then the node is an observer:
it holds no blocks. A validator ('xnode validator create') is registered
already.`,
		Args: exactArgs(0, "no arguments (the stake is --stake N)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			amount, err := parseAmount("--stake", stake)
			if err != nil {
				return err
			}
			_, id, err := g.nodeKeys()
			if err != nil {
				return err
			}
			pid, _ := peer.IDFromPrivateKey(id)
			_, err = g.signAndRelay(cmd.Context(), sf, "node register", func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
				return abci.NewRegisterNode(priv, chainID, nonce, id, amount)
			}, map[string]any{"peer_id": pid.String(), "stake": amount})
			return err
		},
	}
	reg.Flags().StringVar(&stake, "stake", "1", "tokens to bond")
	sf.register(reg, keyring.OperatorName)
	n.AddCommand(reg)
	return n
}

// newNSPublisherCmd is `ns allow|disallow NAMESPACE PEER_ID`: who may
// publish the namespace's services.
func newNSPublisherCmd(g *globals, allow bool) *cobra.Command {
	verb, b := "disallow", abci.NewNamespaceDisallow
	short := "Stop PEER_ID publishing the namespace's services"
	if allow {
		verb, b = "allow", abci.NewNamespaceAllow
		short = "Let PEER_ID publish the namespace's services (signed by the namespace's owner)"
	}
	var sf signerFlags
	cmd := &cobra.Command{
		Use:   verb + " NAMESPACE PEER_ID [--from NAME]",
		Short: short,
		Args:  exactArgs(2, "a NAMESPACE and a PEER_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns := args[0]
			if err := abci.ValidateNamespace(ns); err != nil {
				return usageError{err}
			}
			pid, err := peer.Decode(args[1])
			if err != nil {
				return usagef("PEER_ID %q is not a libp2p peer id (12D3KooW…, as 'xnode status' prints it): %v", args[1], err)
			}
			_, err = g.signAndRelay(cmd.Context(), sf, "ns "+verb, func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
				return b(priv, chainID, nonce, ns, pid.String())
			}, map[string]any{"namespace": ns, "peer_id": pid.String()})
			return err
		},
	}
	sf.register(cmd, keyring.OperatorName)
	return cmd
}

// withFrom gives a command that the node signs with its operator key (ns
// register, submit) a --from NAME: with it, signed runs instead, signing
// locally and relaying through the node at --api.
func withFrom(g *globals, cmd *cobra.Command, signed func(cmd *cobra.Command, args []string, sf signerFlags) error) *cobra.Command {
	var sf signerFlags
	sf.register(cmd, "")
	byNode := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if sf.from == "" {
			return byNode(cmd, args)
		}
		return signed(cmd, args, sf)
	}
	return cmd
}

// nsRegisterSigned is `ns register NAME --from KEY`.
func nsRegisterSigned(g *globals) func(*cobra.Command, []string, signerFlags) error {
	return func(cmd *cobra.Command, args []string, sf signerFlags) error {
		name := args[0]
		if err := abci.ValidateNamespace(name); err != nil {
			return usageError{fmt.Errorf("%w\nnames are 3-63 characters of a-z, 0-9 and '-', starting with a letter", err)}
		}
		_, err := g.signAndRelay(cmd.Context(), sf, "ns register "+name, func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
			return abci.NewRegisterNamespace(priv, chainID, nonce, name)
		}, map[string]any{"name": name})
		return err
	}
}

// submitSigned is `submit NS/KEY FILE|CID --from KEY`: the blob is stored
// (or its size read) through the node at --api, and the record is signed
// here and relayed through that node.
func submitSigned(g *globals) func(*cobra.Command, []string, signerFlags) error {
	return func(cmd *cobra.Command, args []string, sf signerFlags) error {
		ns, key, err := splitRecordName(args[0])
		if err != nil {
			return err
		}
		if err := abci.ValidateNamespace(ns); err != nil {
			return usageError{err}
		}
		if err := abci.ValidateKey(key); err != nil {
			return usageError{err}
		}
		// Open the key before storing anything, so a wrong --from or
		// passphrase costs no upload.
		s, err := g.openSigner(sf.from, sf.passFile)
		if err != nil {
			return err
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		target := args[1]
		var size uint64
		if _, err := os.Stat(target); err == nil || target == "-" {
			put, err := putFile(cmd.Context(), g, c, target)
			if err != nil {
				return err
			}
			target, size = put.CID, put.Size
		} else {
			if _, perr := block.Parse(target); perr != nil {
				return fmt.Errorf("%q is neither a readable file nor a CID\ngive a file to store, or the root CID of a stored blob", target)
			}
			n, err := c.Head(cmd.Context(), target)
			if errors.Is(err, xnode.ErrNotFound) {
				return fmt.Errorf("%w\nno member holds that blob: store it first ('xnode put FILE'), or give the file instead of its CID", err)
			}
			if err != nil {
				return g.explain(err)
			}
			size = uint64(n)
		}
		_, err = g.relaySigned(cmd.Context(), s, "submit "+ns+"/"+key, func(priv ed25519.PrivateKey, chainID string, nonce uint64) ([]byte, error) {
			return abci.NewSubmitRecord(priv, chainID, nonce, ns, key, target, size)
		}, map[string]any{"namespace": ns, "key": key, "cid": target})
		return err
	}
}
