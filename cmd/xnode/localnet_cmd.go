package main

import "github.com/spf13/cobra"

func newLocalnetCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "localnet", Short: "Run an N-node network on this machine in the background"}
}
