package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
)

// GetBlock returns one block, checked against its CID (api.Node).
func (n *Node) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	return n.blocks.GetBlock(ctx, c)
}

// ImportCAR stores and places the blocks of a CAR (api.Node).
func (n *Node) ImportCAR(ctx context.Context, r io.Reader) (api.ImportResult, error) {
	return n.blocks.ImportCAR(ctx, r)
}

// ErrBadCAR is a CAR that is refused: it does not parse, ends early, has no
// roots, holds a block that does not match its CID, or misses a block of a
// root's DAG.
var ErrBadCAR = fmt.Errorf("overlay: %w: bad CAR", xnode.ErrInvalidArgument)

// ImportCAR reads a CAR (v1, or v2 read through to its data) from r. Each
// block is checked against its CID before anything is done with it, then
// placed on its own owners as a put places a blob's blocks, while the next
// is read. Once the CAR has ended, every root and every block a UnixFS node
// links to must have been in it; then every copy is confirmed. On any error
// nothing is acknowledged, and the tentative copies are deleted as for a
// failed put.
func (bs *blocks) ImportCAR(ctx context.Context, r io.Reader) (api.ImportResult, error) {
	ps := &putState{placed: map[peer.ID][]cid.Cid{}}
	res, err := bs.importCAR(ctx, r, ps)
	bs.endPut(ps, err)
	return res, err
}

func (bs *blocks) importCAR(ctx context.Context, r io.Reader, ps *putState) (api.ImportResult, error) {
	v := bs.view()
	if v.size() < bs.minMembers {
		return api.ImportResult{}, fmt.Errorf("%w: %d live, need %d", ErrTooFewMembers, v.size(), bs.minMembers)
	}
	want := v.want()
	// The CIDs are checked by block.DAGCheck, so go-car need not hash every
	// block a second time.
	br, err := carv2.NewBlockReader(r, carv2.WithTrustedCAR(true), carv2.MaxAllowedSectionSize(block.MaxChunkSize+256))
	if err != nil {
		return api.ImportResult{}, fmt.Errorf("%w: header: %v", ErrBadCAR, err)
	}
	check, err := block.NewDAGCheck(br.Roots)
	if err != nil {
		return api.ImportResult{}, fmt.Errorf("%w: %v", ErrBadCAR, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(bs.inflight)
	var readErr error
	for i := 0; ; i++ {
		if gctx.Err() != nil {
			break
		}
		blk, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			readErr = fmt.Errorf("%w: block %d: %v (a truncated or corrupt CAR)", ErrBadCAR, i, err)
			break
		}
		b := block.Block{CID: blk.Cid(), Data: blk.RawData()}
		fresh, err := check.Add(b)
		if err != nil {
			readErr = fmt.Errorf("%w: block %d: %v", ErrBadCAR, i, err)
			break
		}
		if !fresh {
			continue
		}
		bs.claim(ps, b.CID)
		g.Go(func() error {
			holders, err := bs.place(gctx, v, b, want, nil)
			ps.record(b.CID, holders)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return api.ImportResult{}, err
	}
	if readErr != nil {
		return api.ImportResult{}, readErr
	}
	if err := ctx.Err(); err != nil {
		return api.ImportResult{}, err
	}
	if err := check.Complete(); err != nil {
		return api.ImportResult{}, fmt.Errorf("%w: %v", ErrBadCAR, err)
	}
	if err := bs.confirm(ctx, v, ps.placed); err != nil {
		return api.ImportResult{}, err
	}
	res := api.ImportResult{Blocks: check.Blocks(), Bytes: check.Bytes(), Replicas: want}
	for _, root := range br.Roots {
		res.Roots = append(res.Roots, root.String())
		if slices.Contains(ps.placed[bs.self], root) {
			bs.provide(root)
		}
	}
	return res, nil
}
