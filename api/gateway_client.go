package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// ExportCAR writes the DAG under root, as the node's gateway serves it
// (GET /ipfs/{cid}?format=car), to w. It checks the CAR as it passes: a
// CARv1 whose only root is root and whose every block matches its CID. It
// returns the blocks written; on an error w may hold part of the CAR.
func (c *Client) ExportCAR(ctx context.Context, root string, w io.Writer) (int, error) {
	rc, err := block.Parse(root)
	if err != nil {
		return 0, err
	}
	resp, err := c.gateway(ctx, rc, "format=car&dag-scope=all", mediaCAR)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, c.errorFrom(resp)
	}
	// The bytes go to w as they are read, and go-car reads them back out of
	// the same stream to check every block.
	br, err := carv2.NewBlockReader(io.TeeReader(resp.Body, w))
	if err != nil {
		return 0, fmt.Errorf("api: export %s: %w", root, err)
	}
	if len(br.Roots) != 1 || !br.Roots[0].Equals(rc) {
		return 0, fmt.Errorf("api: export %s: the CAR names roots %v", root, br.Roots)
	}
	n := 0
	for {
		b, err := br.Next() // hashes every block against its CID
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, fmt.Errorf("api: export %s: after %d blocks: %w", root, n, err)
		}
		if err := block.Check(b.Cid()); err != nil {
			return n, fmt.Errorf("api: export %s: %w", root, err)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("api: export %s: the CAR holds no block", root)
	}
	return n, nil
}

// ImportCAR sends a CAR to the node (POST /v1/car), which checks and places
// every block; size < 0 means unknown.
func (c *Client) ImportCAR(ctx context.Context, r io.Reader, size int64) (ImportResult, error) {
	var res ImportResult
	resp, err := c.do(ctx, http.MethodPost, "/v1/car", r, size, http.Header{"Content-Type": {mediaCAR}})
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	return res, c.decode(resp, http.StatusCreated, &res)
}

// GetBlock returns one block from the node's gateway (format=raw), checked
// against its CID.
func (c *Client) GetBlock(ctx context.Context, id string) ([]byte, error) {
	bc, err := block.Parse(id)
	if err != nil {
		return nil, err
	}
	resp, err := c.gateway(ctx, bc, "format=raw", mediaRaw)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.errorFrom(resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, block.MaxChunkSize+1))
	if err != nil {
		return nil, fmt.Errorf("api: block %s: %w", id, err)
	}
	if err := block.Verify(bc, data); err != nil {
		return nil, fmt.Errorf("api: block %s from the node: %w", id, err)
	}
	return data, nil
}

// gateway sends GET /ipfs/{cid}?query with Accept accept.
func (c *Client) gateway(ctx context.Context, id cid.Cid, query, accept string) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + "/ipfs/" + id.String()
	u.RawPath = ""
	u.RawQuery = query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("api: %w: %v", xnode.ErrInvalidArgument, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := c.hc.Do(req)
	if err != nil {
		if unreachable(err) {
			return nil, fmt.Errorf("%w at %s: %w", ErrUnreachable, c.base, err)
		}
		return nil, fmt.Errorf("api: GET %s: %w", (&url.URL{Path: u.Path}).String(), err)
	}
	return resp, nil
}
