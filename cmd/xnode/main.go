package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks bad usage (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// globals are the persistent flags.
type globals struct {
	home string
	api  string
	json bool
	out  io.Writer
	err  io.Writer
	in   io.Reader
}

func defaultHome() string {
	if h := os.Getenv("XNODE_HOME"); h != "" {
		return h
	}
	dir, err := os.UserHomeDir()
	if err != nil {
		return ".xnode"
	}
	return filepath.Join(dir, ".xnode")
}

func defaultAPI() string {
	if a := os.Getenv("XNODE_API"); a != "" {
		return a
	}
	return "http://127.0.0.1:8080"
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "xnode",
		Short: "Run and use a node of the xnode peer-to-peer overlay network",
		Long: `xnode runs a node of a decentralized overlay network: it stores blobs as
content-addressed chunks placed on R nodes by weighted rendezvous hashing,
gossips membership, routes peers through a private Kademlia DHT, and commits
verified-data records through an embedded CometBFT node.

Start a single-node dev network with "xnode start", then try "xnode put FILE".`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(g.out)
	root.SetErr(g.err)
	root.SetIn(g.in)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w\nrun '%s --help' for usage", err, c.CommandPath())}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.home, "home", defaultHome(), "node home directory (env XNODE_HOME)")
	pf.StringVar(&g.api, "api", defaultAPI(), "base URL of the node's HTTP API (env XNODE_API)")
	pf.BoolVar(&g.json, "json", false, "machine-readable JSON output")
	root.AddCommand(
		newInitCmd(g), newStartCmd(g), newJoinCmd(g),
		newPutCmd(g), newGetCmd(g), newLocateCmd(g), newExportCmd(g), newImportCmd(g),
		newMembersCmd(g), newStatusCmd(g),
		newNSCmd(g), newSubmitCmd(g), newRecordCmd(g), newTxCmd(g), newParamsCmd(g),
		newLocalnetCmd(g), newVersionCmd(g), newExportGenesisCmd(g),
		newKeysCmd(g), newAccountCmd(g), newSendCmd(g), newValidatorCmd(g), newValidatorsCmd(g), newNodeCmd(g),
		newServiceCmd(g), newStorageCmd(g),
	)
	root.Version = version
	root.SetVersionTemplate("xnode {{.Version}}\n")
	root.SetHelpCommand(newHelpCmd(root))
	for _, c := range root.Commands() {
		if c.HasSubCommands() && c.RunE == nil && c.Run == nil {
			c.RunE = groupRun
			c.SuggestionsMinimumDistance = 2
		}
	}
	return root
}

// groupRun runs a command that only groups others (ns, localnet): alone it
// prints its help; with an argument that names none of its subcommands it
// is bad usage, as an unknown top-level command is.
func groupRun(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("\ndid you mean %q?", s[0])
	}
	return usagef("%s\nrun '%s --help' for usage", msg, cmd.CommandPath())
}

// newHelpCmd is cobra's help command, except that a topic naming no command
// is bad usage rather than a message and success.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("unknown help topic %q\nrun 'xnode --help' for the commands", strings.Join(args, " "))
			}
			return c.Help()
		},
	}
}

// exactArgs is cobra.ExactArgs reporting bad usage.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (got %d argument(s))\nusage: %s", cmd.CommandPath(), what, len(args), cmd.UseLine())
		}
		return nil
	}
}

// run executes one command line and returns its exit status. ctx ends a
// long-running command (start, join) as SIGINT would.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{out: stdout, err: stderr, in: stdin}
	root := newRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "xnode") {
		msg = "xnode: " + msg
	}
	fmt.Fprintln(stderr, msg)
	var ue usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command") || strings.Contains(err.Error(), "unknown flag") {
		return 2
	}
	return 1
}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the xnode version",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.json {
				return printJSON(g.out, map[string]string{"version": version})
			}
			fmt.Fprintln(g.out, "xnode", version)
			return nil
		},
	}
}
