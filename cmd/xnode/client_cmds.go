package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/atomicfile"
)

// client returns an API client for --api.
func (g *globals) client() (*api.Client, error) {
	c, err := api.NewClient(g.api, nil)
	if err != nil {
		return nil, usageError{fmt.Errorf("--api %q: %w", g.api, err)}
	}
	return c, nil
}

// explain adds what to do to an API error.
func (g *globals) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, api.ErrUnreachable):
		return fmt.Errorf("%w\nis a node running? start one with 'xnode start', or point --api (or XNODE_API) at a running node", err)
	case errors.Is(err, api.ErrNotAPI):
		return fmt.Errorf("%w\npoint --api (or XNODE_API) at the node's API address, as 'xnode localnet status' or the node's start banner shows it", err)
	case errors.Is(err, xnode.ErrNotFound):
		return fmt.Errorf("%w\ncheck the CID or name; 'xnode locate CID' shows who should hold a blob", err)
	}
	return err
}

// show is the body of a read-only command: it fetches v from the node, then
// prints it as JSON with --json, or through table otherwise. fetch takes the
// client first so that a method expression such as (*api.Client).Members
// fits.
func show[T any](g *globals, ctx context.Context, fetch func(*api.Client, context.Context) (T, error), table func(tw *tabwriter.Writer, v T)) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	v, err := fetch(c, ctx)
	if err != nil {
		return g.explain(err)
	}
	if g.json {
		return printJSON(g.out, v)
	}
	tw := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
	table(tw, v)
	return tw.Flush()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressMin is the size from which put shows a progress bar on a terminal.
const progressMin = 8 << 20

func newPutCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "put FILE|-",
		Short: "Store a blob and print its root CID ('-' reads standard input)",
		Args:  exactArgs(1, "one FILE, or - for standard input"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			res, err := putFile(cmd.Context(), g, c, args[0])
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.out, map[string]any{"cid": res.CID, "size": res.Size, "chunks": res.Chunks, "replicas": res.Replicas})
			}
			fmt.Fprintln(g.out, res.CID)
			return nil
		},
	}
}

// putFile streams a file (or stdin for "-") to the node.
func putFile(ctx context.Context, g *globals, c *api.Client, name string) (api.PutResult, error) {
	var r io.Reader
	size := int64(-1)
	if name == "-" {
		r = g.in
	} else {
		f, err := os.Open(name)
		if err != nil {
			return api.PutResult{}, fmt.Errorf("%w\ncheck the path, or use - to read standard input", err)
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return api.PutResult{}, err
		}
		if st.IsDir() {
			return api.PutResult{}, fmt.Errorf("%s is a directory; put takes one file (try: tar c DIR | xnode put -)", name)
		}
		r = f
		// Only a regular file's size is its length: a pipe, FIFO or
		// character device (/dev/stdin, <(cmd)) reports 0 or nothing
		// meaningful, so it is streamed until EOF like standard input.
		if st.Mode().IsRegular() {
			size = st.Size()
		}
	}
	if isTerminal(g.err) && !g.json && (size < 0 || size >= progressMin) {
		bar := progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(g.err),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("put"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		pr := progressbar.NewReader(r, bar)
		r = &pr
		defer bar.Finish()
	}
	var res api.PutResult
	var err error
	if size >= 0 {
		res, err = c.PutSize(ctx, r, size)
	} else {
		res, err = c.Put(ctx, r)
	}
	return res, g.explain(err)
}

func newGetCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "get CID [-o FILE]",
		Short: "Fetch a blob, verified, to standard output or a file (a regular file is written atomically)",
		Args:  exactArgs(1, "one CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := block.Parse(args[0]); err != nil {
				return usageError{err}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := c.Get(cmd.Context(), args[0], g.out)
				return g.explain(err)
			}
			if st, err := os.Stat(out); err == nil && st.IsDir() {
				return fmt.Errorf("%s is a directory\nname the file to write, for example -o %s", out, filepath.Join(out, args[0]))
			}
			// A regular file is replaced atomically; a device, FIFO or
			// socket (-o /dev/null) is written in place, never replaced.
			err = atomicfile.Write(out, 0o644, func(w io.Writer) error {
				_, err := c.Get(cmd.Context(), args[0], w)
				return g.explain(err)
			})
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("%w\ncheck that the directory of %s exists and is writable", err, out)
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of standard output (- is standard output); a regular file is replaced via a temporary file and rename, a device, FIFO or socket is written in place")
	return cmd
}

func newLocateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "locate CID",
		Short: "Show the ranked owners of a blob and which of them hold each block",
		Args:  exactArgs(1, "one CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := block.Parse(args[0]); err != nil {
				return usageError{err}
			}
			var (
				providers []string
				held      bool
			)
			err := show(g, cmd.Context(), func(c *api.Client, ctx context.Context) (api.Location, error) {
				return c.Locate(ctx, args[0])
			}, func(tw *tabwriter.Writer, loc api.Location) {
				fmt.Fprintf(tw, "BLOCK\tSIZE\tRANK\tOWNER\tHAS\n")
				row := func(c, size string, owners []api.Owner) {
					for _, o := range owners {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", short(c), size, o.Rank, o.Peer, yesNo(o.Has))
					}
				}
				rootSize := "-" // no member served the root
				if loc.BlockSize > 0 {
					rootSize = strconv.Itoa(loc.BlockSize)
				}
				label := loc.CID + " (chunk)" // a raw block asked for on its own
				if c, err := block.Parse(loc.CID); err != nil || block.IsManifest(c) {
					label = loc.CID + " (root)"
				}
				row(label, rootSize, loc.Owners)
				for _, b := range loc.Blocks {
					row(b.CID, strconv.Itoa(b.Size), b.Owners)
				}
				held = slices.ContainsFunc(loc.Owners, func(o api.Owner) bool { return o.Has })
				providers = loc.Providers
			})
			if err != nil {
				return err
			}
			if len(providers) > 0 {
				fmt.Fprintf(g.out, "DHT providers of the root: %s\n", strings.Join(providers, ", "))
			}
			if !held && len(providers) == 0 && !g.json {
				fmt.Fprintf(g.err, "no member holds %s; the owners above are where it would be placed\n", args[0])
			}
			return nil
		},
	}
}

func short(c string) string {
	if len(c) > 24 && !strings.HasSuffix(c, ")") {
		return c[:12] + "…" + c[len(c)-8:]
	}
	return c
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newMembersCmd(g *globals) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "members [--all]",
		Short: "Show the membership table with state and capacity (--all: observers too)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fetch := (*api.Client).Members
			if all {
				fetch = (*api.Client).AllMembers
			}
			return show(g, cmd.Context(), fetch, func(tw *tabwriter.Writer, ms []api.Member) {
				fmt.Fprintf(tw, "PEER\tSTATE\tCAPACITY\tUSED\tAPI\tLAST SEEN\n")
				for _, m := range ms {
					state := m.State
					if m.Self {
						state += " (self)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", m.PeerID, state, human(m.Capacity), human(m.Used), m.API, m.LastSeen.Local().Format(time.TimeOnly))
				}
			})
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "also list observers: peers that announce themselves but are not registered on chain, and hold no data")
	return cmd
}

func human(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func newStatusCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show node id, addresses, chain id and height, storage use and member count",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return show(g, cmd.Context(), (*api.Client).Status, func(tw *tabwriter.Writer, st api.Status) {
				fmt.Fprintf(tw, "peer id\t%s\n", st.PeerID)
				for i, a := range st.Addrs {
					label := ""
					if i == 0 {
						label = "addresses"
					}
					fmt.Fprintf(tw, "%s\t%s\n", label, a)
				}
				fmt.Fprintf(tw, "api\t%s\n", st.API)
				fmt.Fprintf(tw, "chain\t%s at height %d%s\n", st.ChainID, st.Height, map[bool]string{true: " (catching up)"}[st.CatchingUp])
				fmt.Fprintf(tw, "members\t%d live, replication %d\n", st.Members, st.Replication)
				if st.Role != "" {
					fmt.Fprintf(tw, "role\t%s\n", st.Role)
				}
				fmt.Fprintf(tw, "storage\t%d blocks, %s\n", st.Storage.Blocks, human(uint64(st.Storage.Bytes)))
				fmt.Fprintf(tw, "version\t%s\n", st.Version)
			})
		},
	}
}
