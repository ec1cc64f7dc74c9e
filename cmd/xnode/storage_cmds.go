package main

import (
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/xnode/xnode/overlay"
	"github.com/xnode/xnode/storage"
)

// newStorageCmd groups the offline tools of a stopped node's block store.
func newStorageCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Offline tools for a stopped node's block store",
	}
	cmd.AddCommand(newStorageReindexCmd(g))
	return cmd
}

// reindexJSON is the --json shape of `xnode storage reindex`.
type reindexJSON struct {
	Dir            string  `json:"dir"`
	Segments       int     `json:"segments"`
	Bytes          int64   `json:"bytes"`
	Records        int     `json:"records"`
	Reindexed      int     `json:"reindexed"`
	ReindexedBytes int64   `json:"reindexed_bytes"`
	AlreadyIndexed int     `json:"already_indexed"`
	Duplicates     int     `json:"duplicates"`
	Damaged        int     `json:"damaged"`
	TornTails      int     `json:"torn_tails"`
	Seconds        float64 `json:"seconds"`
}

// newStorageReindexCmd is `xnode storage reindex`: rebuild the index
// entries a damaged badger write-ahead log lost, from the segment files.
func newStorageReindexCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reindex",
		Short: "Rebuild lost block index entries from the segment files (stop the node first)",
		Long: `reindex walks every segment file of the node's block store (--home's
data/blocks/segments) record by record, checks each block's bytes against its
CID, and writes the index entries of every block the index lacks, as a
confirmed put would. Damaged records and a torn record at the end of a
segment are skipped and counted.

Run it on a stopped node whose badger index lost entries: badger truncates its
write-ahead log at a damaged entry when it opens, silently, and the blocks
whose entries were after it are then no longer served, though their bytes are
still on disk. Blocks the node had deleted but whose bytes compaction has not
reclaimed yet come back too; their bytes are checked, and repair drops a copy
the node does not own on its next pass.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			home := overlay.Home(g.home)
			if st, err := os.Stat(g.home); err != nil || !st.IsDir() {
				return fmt.Errorf("no xnode home at %s\npass the home of the node to re-index with --home", g.home)
			}
			dir := home.BlocksDir()
			rep, err := storage.ReindexDir(cmd.Context(), storage.DefaultConfig(dir), nil)
			switch {
			case errors.Is(err, storage.ErrNoStore):
				return fmt.Errorf("no block store at %s\nis --home the home of a node that has stored blocks?", dir)
			case errors.Is(err, storage.ErrInUse):
				return fmt.Errorf("the block store %s is in use by a running node: stop the node first, then run reindex again", dir)
			case err != nil:
				return err
			}
			if g.json {
				return printJSON(g.out, reindexJSON{
					Dir: dir, Segments: rep.Segments, Bytes: rep.Bytes, Records: rep.Records,
					Reindexed: rep.Reindexed, ReindexedBytes: rep.ReindexedBytes,
					AlreadyIndexed: rep.AlreadyIndexed, Duplicates: rep.Duplicates,
					Damaged: rep.Damaged, TornTails: rep.TornTails, Seconds: rep.Took.Seconds(),
				})
			}
			w := tabwriter.NewWriter(g.out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "segments\t%d (%d bytes)\n", rep.Segments, rep.Bytes)
			fmt.Fprintf(w, "records\t%d\n", rep.Records)
			fmt.Fprintf(w, "re-indexed\t%d blocks (%d bytes)\n", rep.Reindexed, rep.ReindexedBytes)
			fmt.Fprintf(w, "already indexed\t%d\n", rep.AlreadyIndexed)
			fmt.Fprintf(w, "duplicates\t%d (one copy indexed)\n", rep.Duplicates)
			fmt.Fprintf(w, "damaged\t%d (skipped)\n", rep.Damaged)
			fmt.Fprintf(w, "torn tails\t%d (skipped)\n", rep.TornTails)
			fmt.Fprintf(w, "took\t%s\n", rep.Took.Round(time.Millisecond))
			return w.Flush()
		},
	}
}
