package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/atomicfile"
)

// newExportCmd is `xnode export CID -o FILE.car`: the blob's DAG as a CARv1,
// from the node's trustless gateway, every block checked on the way.
func newExportCmd(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export CID -o FILE.car",
		Short: "Write a blob's DAG as a CARv1 file (every block checked; a regular file is written atomically)",
		Args:  exactArgs(1, "one CID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := block.Parse(args[0]); err != nil {
				return usageError{err}
			}
			if out == "" {
				return usageError{errors.New("name the CAR file to write with -o FILE.car (or -o - for standard output)")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			var blocks int
			export := func(w io.Writer) error {
				n, err := c.ExportCAR(cmd.Context(), args[0], w)
				blocks = n
				return g.explain(err)
			}
			if out == "-" {
				return export(g.out)
			}
			if st, err := os.Stat(out); err == nil && st.IsDir() {
				return fmt.Errorf("%s is a directory\nname the file to write, for example -o %s.car", out, args[0])
			}
			err = atomicfile.Write(out, 0o644, export)
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("%w\ncheck that the directory of %s exists and is writable", err, out)
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(g.out, map[string]any{"cid": args[0], "blocks": blocks, "file": out})
			}
			fmt.Fprintf(g.err, "%d blocks written to %s\n", blocks, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the CAR file to write (- is standard output)")
	return cmd
}

// newImportCmd is `xnode import FILE.car`: the node checks every block
// against its CID, places each, and the roots are printed once all are
// durable.
func newImportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.car|-",
		Short: "Store the blocks of a CAR file, each checked against its CID, and print its roots",
		Args:  exactArgs(1, "one CAR file, or - for standard input"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			var r io.Reader = g.in
			size := int64(-1)
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("%w\ncheck the path, or use - to read standard input", err)
				}
				defer f.Close()
				st, err := f.Stat()
				if err != nil {
					return err
				}
				if st.IsDir() {
					return fmt.Errorf("%s is a directory; import takes one CAR file", args[0])
				}
				if st.Mode().IsRegular() {
					size = st.Size()
				}
				r = f
			}
			res, err := c.ImportCAR(cmd.Context(), r, size)
			if err != nil {
				return g.explain(err)
			}
			if g.json {
				return printJSON(g.out, res)
			}
			for _, root := range res.Roots {
				fmt.Fprintln(g.out, root)
			}
			return nil
		},
	}
}
