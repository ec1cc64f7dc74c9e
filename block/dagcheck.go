package block

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// DAGCheck checks that a stream of blocks (a CAR's, in any order) holds
// whole DAGs under its roots: every block matches its CID, and every root
// and every block a dag-pb node links to arrives. It holds the CIDs seen,
// not the blocks. Not safe for concurrent use.
type DAGCheck struct {
	roots  []cid.Cid
	seen   map[cid.Cid]bool
	linked map[cid.Cid]cid.Cid // child → a parent that links to it
	bytes  uint64
}

// NewDAGCheck starts a check of the DAGs under roots; there must be at
// least one, and each must be a CID xnode stores (Check).
func NewDAGCheck(roots []cid.Cid) (*DAGCheck, error) {
	if len(roots) == 0 {
		return nil, errors.New("it names no root")
	}
	for _, root := range roots {
		if err := Check(root); err != nil {
			return nil, fmt.Errorf("root: %w (xnode keeps UnixFS files of CIDv1 blocks with raw leaves: "+
				"a file added with `ipfs add --cid-version 1 --raw-leaves`, whose `ipfs dag export` imports)", err)
		}
	}
	return &DAGCheck{roots: roots, seen: map[cid.Cid]bool{}, linked: map[cid.Cid]cid.Cid{}}, nil
}

// Add checks b against its CID and notes the blocks it links to. fresh is
// false for a block seen before (a CAR may repeat one).
func (d *DAGCheck) Add(b Block) (fresh bool, err error) {
	if err := Verify(b.CID, b.Data); err != nil {
		return false, err
	}
	if IsManifest(b.CID) {
		nd, err := DecodeNode(b)
		if err != nil {
			return false, err
		}
		for _, l := range nd.Links {
			d.linked[l.CID] = b.CID
		}
	}
	if d.seen[b.CID] {
		return false, nil
	}
	d.seen[b.CID] = true
	d.bytes += uint64(len(b.Data))
	return true, nil
}

// Complete reports the first root or linked block that never arrived.
func (d *DAGCheck) Complete() error {
	for _, root := range d.roots {
		if !d.seen[root] {
			return fmt.Errorf("root %s is not in it", root)
		}
	}
	for child, parent := range d.linked {
		if !d.seen[child] {
			return fmt.Errorf("block %s, linked from %s, is not in it", child, parent)
		}
	}
	return nil
}

// Blocks and Bytes count the distinct blocks added and their bytes.
func (d *DAGCheck) Blocks() int { return len(d.seen) }

// Bytes is the size of the distinct blocks added.
func (d *DAGCheck) Bytes() uint64 { return d.bytes }
