package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/overlay"
)

// newExportGenesisCmd writes a stopped node's current state as the genesis
// of a new chain.
func newExportGenesisCmd(g *globals) *cobra.Command {
	var out, chainID string
	cmd := &cobra.Command{
		Use:   "export-genesis [-o FILE] [--chain-id ID]",
		Short: "Write this (stopped) node's current chain state as the genesis of a new chain",
		Long: `export-genesis reads the node's chain state (namespaces, records with their
status and attestations, params, admins and the validator set) and writes a
CometBFT genesis file that a new chain starts from: copy it to every node's
cometbft/config/genesis.json of fresh homes (xnode init, then replace the file).

The new chain gets a new chain id (default <old id>-<height>): signatures
cover the chain id, so no transaction of the old chain replays on the new one.
Stop the node first; its state is read, never changed. It also reads a home
whose state predates the state tree, which the node itself no longer opens.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			home := overlay.Home(g.home)
			if !home.Exists() {
				return fmt.Errorf("no xnode home at %s\npass the home of the node to export with --home", g.home)
			}
			old, err := consensus.LoadGenesis(home.CometHome())
			if err != nil {
				return fmt.Errorf("read the current genesis: %w", err)
			}
			ex, err := abci.ExportState(home.AppDir(), nil)
			if err != nil {
				return err
			}
			if chainID == "" {
				chainID = fmt.Sprintf("%s-%d", ex.ChainID, ex.Height)
			}
			if chainID == ex.ChainID || chainID == old.ChainID {
				return usagef("--chain-id %q is the old chain's id: a new chain needs a new id, or old transactions could replay on it", chainID)
			}
			doc, err := exportedGenesis(old, ex, chainID)
			if err != nil {
				return err
			}
			raw, err := consensus.MarshalGenesis(doc)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err = g.out.Write(append(raw, '\n'))
				return err
			}
			if err := os.WriteFile(out, append(raw, '\n'), 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(g.err, "wrote the state of %s at height %d (%d namespaces, %d records, %d validators) to %s as chain %s\n",
				ex.ChainID, ex.Height, len(ex.State.Namespaces), len(ex.State.Records), len(ex.Validators), out, chainID)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "genesis file to write (default standard output)")
	cmd.Flags().StringVar(&chainID, "chain-id", "", "chain id of the new chain (default <old id>-<height>)")
	return cmd
}

// exportedGenesis builds the new chain's genesis from the old genesis (its
// consensus parameters) and the exported state.
func exportedGenesis(old *cmttypes.GenesisDoc, ex abci.Exported, chainID string) (*cmttypes.GenesisDoc, error) {
	appState, err := json.Marshal(ex.State)
	if err != nil {
		return nil, fmt.Errorf("encode app state: %w", err)
	}
	names := make(map[string]string, len(old.Validators))
	for _, v := range old.Validators {
		names[string(v.PubKey.Bytes())] = v.Name
	}
	doc := &cmttypes.GenesisDoc{
		GenesisTime:     time.Now().UTC().Truncate(time.Second),
		ChainID:         chainID,
		InitialHeight:   1,
		ConsensusParams: old.ConsensusParams,
		AppState:        appState,
	}
	for _, v := range ex.Validators {
		pk := ed25519.PubKey(v.PubKey)
		doc.Validators = append(doc.Validators, cmttypes.GenesisValidator{
			Address: pk.Address(), PubKey: pk, Power: v.Power, Name: names[string(v.PubKey)],
		})
	}
	if len(doc.Validators) == 0 {
		return nil, fmt.Errorf("the exported state holds no validator: a new chain needs at least one")
	}
	return doc, nil
}
