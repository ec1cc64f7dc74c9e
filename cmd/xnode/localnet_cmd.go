package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode/localnet"
)

func newLocalnetCmd(g *globals) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "localnet",
		Short: "Run an N-node network on this machine in the background",
		Long: `localnet runs an N-node xnode network on this machine: every node is a
background process with its own home in DIR/node0, DIR/node1, ... and its
own ports on 127.0.0.1 (recorded in DIR/localnet.json). The nodes keep
running after this command exits; "xnode localnet down" stops them.`,
		Example: `  xnode localnet up -n 4
  xnode localnet status
  xnode put FILE --api http://127.0.0.1:27000
  xnode localnet down`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", localnet.DefaultDir, "directory holding the local network")
	cmd.AddCommand(newLocalnetUpCmd(g, &dir), newLocalnetStatusCmd(g, &dir), newLocalnetDownCmd(g, &dir))
	return cmd
}

func newLocalnetUpCmd(g *globals, dir *string) *cobra.Command {
	var n, basePort int
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create (first time) and start the local network, and wait until every node is ready",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := localnet.Options{Dir: *dir, ReadyTimeout: timeout}
			if cmd.Flags().Changed("nodes") {
				if n < 1 || n > localnet.MaxNodes {
					return usagef("-n %d: want 1..%d nodes", n, localnet.MaxNodes)
				}
				opts.N = n
			}
			if cmd.Flags().Changed("base-port") {
				if basePort < 1024 || basePort > 65535-localnet.MaxNodes*10 {
					return usagef("--base-port %d: want 1024..%d", basePort, 65535-localnet.MaxNodes*10)
				}
				opts.BasePort = basePort
			}
			if timeout <= 0 {
				return usagef("--timeout %s: must be positive", timeout)
			}
			ctx, stop := signal.NotifyContext(cmdContext(cmd), os.Interrupt, syscall.SIGTERM)
			defer stop()
			fmt.Fprintf(g.err, "starting the local network in %s (waiting up to %s for every node to be ready)...\n", *dir, timeout)
			l, err := localnet.Up(ctx, opts)
			if err != nil {
				return explainLocalnet(err, *dir)
			}
			sts, err := localnet.Status(l.Dir)
			if err != nil {
				return explainLocalnet(err, *dir)
			}
			if g.json {
				return printJSON(g.out, sts)
			}
			printLocalnet(g, sts, false)
			fmt.Fprintf(g.err, "\n%d nodes of chain %s are running; logs in %s/node*/xnode.log\ntry:\n  xnode put FILE --api %s\n  xnode localnet status --dir %s\nstop them with:\n  xnode localnet down --dir %s\n",
				len(l.Nodes), l.ChainID, *dir, l.Nodes[0].API, *dir, *dir)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "nodes", "n", localnet.DefaultN, "number of nodes, all validators (only when the network is created)")
	cmd.Flags().IntVar(&basePort, "base-port", 0, "first port of node0; node i uses BASE+10*i .. +3 (default: the first of 27000, 28000, ... whose ports are free)")
	cmd.Flags().DurationVar(&timeout, "timeout", localnet.DefaultReadyTimeout, "how long to wait for every node to be ready")
	return cmd
}

func newLocalnetStatusCmd(g *globals, dir *string) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show each node of the local network: peer id, API, pid, whether it runs, chain height",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sts, err := localnet.Status(*dir)
			if err != nil {
				return explainLocalnet(err, *dir)
			}
			if g.json {
				return printJSON(g.out, sts)
			}
			printLocalnet(g, sts, true)
			return nil
		},
	}
}

func newLocalnetDownCmd(g *globals, dir *string) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop every node of the local network (SIGTERM, then SIGKILL after --timeout); data is kept",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 {
				return usagef("--timeout %s: must be positive", timeout)
			}
			if err := localnet.Down(*dir, timeout); err != nil {
				return explainLocalnet(err, *dir)
			}
			fmt.Fprintf(g.err, "the local network in %s is stopped; its data is kept ('xnode localnet up --dir %s' restarts it, removing the directory deletes it)\n", *dir, *dir)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", localnet.DefaultDownTimeout, "how long nodes get to shut down before they are killed")
	return cmd
}

// cmdContext is the command's context, or a background one when run outside Execute's context.
func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// explainLocalnet adds what to do to a localnet error.
func explainLocalnet(err error, dir string) error {
	var pe *localnet.PortError
	switch {
	case errors.Is(err, localnet.ErrNoLocalnet):
		return fmt.Errorf("%w\nstart one with 'xnode localnet up --dir %s'", err, dir)
	case errors.As(err, &pe):
		return fmt.Errorf("%w\nnothing was started; stop what holds the port, or (for a new network) choose other ports with --base-port", err)
	case errors.Is(err, localnet.ErrNotReady):
		return fmt.Errorf("%w\nthe nodes this command started were stopped; see %s/node*/xnode.log, fix the cause and run 'xnode localnet up --dir %s' again", err, dir, dir)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("localnet: interrupted; the nodes this command started were stopped")
	}
	return err
}

func printLocalnet(g *globals, sts []localnet.NodeStatus, withAlive bool) {
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	if withAlive {
		fmt.Fprintf(tw, "NAME\tPEER ID\tAPI\tPID\tALIVE\tHEIGHT\n")
	} else {
		fmt.Fprintf(tw, "NAME\tPEER ID\tAPI\tPID\tHEIGHT\n")
	}
	for _, s := range sts {
		pid := "-"
		if s.PID > 0 {
			pid = strconv.Itoa(s.PID)
		}
		if withAlive {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", s.Name, s.PeerID, s.API, pid, yesNo(s.Alive), s.Height)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", s.Name, s.PeerID, s.API, pid, s.Height)
		}
	}
	tw.Flush()
}
