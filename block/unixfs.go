package block

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/boxo/ipld/unixfs/importer/balanced"
	"github.com/ipfs/boxo/ipld/unixfs/importer/helpers"
	ufspb "github.com/ipfs/boxo/ipld/unixfs/pb"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"

	"github.com/xnode/xnode"
)

// MaxLinks is the most children a UnixFS node of a blob has: Kubo's
// balanced layout (helpers.DefaultLinksPerBlock), which the root CID of the
// same bytes must match.
const MaxLinks = 174

// maxDepth bounds how deep a reader follows a DAG: 174^8 MiB-sized leaves is
// far more than any blob; a deeper DAG is refused rather than walked.
const maxDepth = 16

// ErrBadNode is a block that is not a UnixFS file node this system reads.
var ErrBadNode = fmt.Errorf("block: %w: not a UnixFS file node", xnode.ErrInvalidArgument)

// ErrBadDAG means a blob's DAG contradicts itself: a child is not the size
// its parent says, or the DAG is deeper than any blob's.
var ErrBadDAG = fmt.Errorf("block: %w: inconsistent UnixFS DAG", xnode.ErrIntegrity)

func init() {
	// boxo refuses leaves over 2 MiB (the bitswap limit); xnode's chunks may
	// be configured up to MaxChunkSize. The importer reads this variable
	// for every leaf, and nothing else in this process builds UnixFS.
	if helpers.BlockSizeLimit < MaxChunkSize {
		helpers.BlockSizeLimit = MaxChunkSize
	}
}

// hashAhead is how many chunks past the one being built the importer reads
// and hashes in parallel, so hashing runs on every core while the importer
// (one goroutine, as in boxo) reads on.
const hashAhead = 4

// Splitter yields a blob's chunks in order, and io.EOF after the last (a
// Chunker is one). The importer keeps each chunk's bytes as the leaf's data
// without copying them.
type Splitter interface {
	NextBytes() ([]byte, error)
}

// Imported describes a blob the importer built.
type Imported struct {
	Root   Block  // the root: a dag-pb node, or the only raw leaf
	Size   uint64 // the blob's bytes
	Leaves int    // raw leaves (chunks)
	Nodes  int    // dag-pb nodes, the root included
}

// Import builds the UnixFS file over the chunks spl yields, in the balanced
// layout with at most MaxLinks links per node and raw leaves, exactly as
// `ipfs add --cid-version 1 --raw-leaves` does (boxo's importer does the
// building). A blob of one chunk is its own raw root; an empty blob is the
// empty raw block.
//
// emit is called, in the importer's goroutine, with every block once: each
// leaf as soon as it is cut, each node once it is full, and the root last.
// A child is always emitted before its parent. Only the last MaxLinks links
// per level of the tree are held, so a blob of any size streams. An error
// from emit or from spl ends the import with that error.
func Import(spl Splitter, emit func(Block) error) (Imported, error) {
	var out Imported
	ds := &emitter{emit: func(n ipld.Node) error {
		b := Block{CID: n.Cid(), Data: n.RawData()}
		if b.CID.Prefix().Codec == CodecRaw {
			out.Leaves++
			out.Size += uint64(len(b.Data))
		} else {
			out.Nodes++
		}
		return emit(b)
	}}
	ahead := newAheadSplitter(spl)
	defer ahead.close()
	params := helpers.DagBuilderParams{
		Maxlinks:   MaxLinks,
		RawLeaves:  true,
		CidBuilder: aheadBuilder{codec: cid.DagProtobuf, ahead: ahead},
		Dagserv:    ds,
	}
	db, err := params.New(ahead)
	if err != nil {
		return Imported{}, fmt.Errorf("block: import: %w", err)
	}
	root, err := balanced.Layout(db)
	if err != nil {
		if ds.err != nil {
			return Imported{}, ds.err
		}
		return Imported{}, fmt.Errorf("block: import: %w", err)
	}
	out.Root = Block{CID: root.Cid(), Data: root.RawData()}
	if out.Leaves == 0 { // the empty blob: its root is an empty raw leaf
		out.Leaves = 1
	}
	return out, nil
}

// aheadSplitter is the importer's chunker.Splitter: a goroutine of its own
// reads up to hashAhead chunks ahead of the importer and hashes each in a
// goroutine of its own. The importer then asks aheadBuilder for the leaf's
// CID, which waits for that hash instead of hashing again. A chunk goes to
// the importer as soon as it is read, whether or not the next one is.
type aheadSplitter struct {
	src  Splitter
	next chan *aheadChunk // read, in order; closed after the last
	stop chan struct{}    // closed when the import ends
	cur  *aheadChunk      // the chunk NextBytes returned last
	end  error            // what src returned after its last chunk; read once next is closed
	wg   sync.WaitGroup
}

type aheadChunk struct {
	data []byte
	cid  cid.Cid
	done chan struct{}
}

func newAheadSplitter(src Splitter) *aheadSplitter {
	a := &aheadSplitter{src: src, next: make(chan *aheadChunk, hashAhead), stop: make(chan struct{})}
	a.wg.Add(1)
	go a.read()
	return a
}

func (a *aheadSplitter) read() {
	defer a.wg.Done()
	defer close(a.next)
	for {
		select {
		case <-a.stop:
			return
		default:
		}
		data, err := a.src.NextBytes()
		if err != nil {
			a.end = err
			return
		}
		ch := &aheadChunk{data: data, done: make(chan struct{})}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer close(ch.done)
			ch.cid = Sum(CodecRaw, ch.data)
		}()
		select {
		case a.next <- ch:
		case <-a.stop:
			return
		}
	}
}

func (a *aheadSplitter) Reader() io.Reader { return nil }

func (a *aheadSplitter) NextBytes() ([]byte, error) {
	ch, ok := <-a.next
	if !ok {
		a.cur = nil
		return nil, a.end
	}
	a.cur = ch
	return ch.data, nil
}

// hashed returns the CID of data when it is the chunk NextBytes returned
// last, once its goroutine has hashed it.
func (a *aheadSplitter) hashed(data []byte) (cid.Cid, bool) {
	ch := a.cur
	if ch == nil || len(data) == 0 || len(ch.data) != len(data) || &ch.data[0] != &data[0] {
		return cid.Undef, false
	}
	<-ch.done
	return ch.cid, true
}

// close ends the reading and waits for it (a read under way finishes) and
// for every hashing goroutine, so none outlives Import.
func (a *aheadSplitter) close() {
	close(a.stop)
	a.wg.Wait()
}

// aheadBuilder makes the CIDs of the nodes the importer builds (CIDv1,
// sha2-256; leaves raw, nodes dag-pb), taking a leaf's CID from the aheadSplitter that
// hashed it; anything else it hashes itself.
type aheadBuilder struct {
	codec uint64
	ahead *aheadSplitter
}

func (b aheadBuilder) Sum(data []byte) (cid.Cid, error) {
	if b.codec == CodecRaw {
		if c, ok := b.ahead.hashed(data); ok {
			return c, nil
		}
	}
	return cid.V1Builder{Codec: b.codec, MhType: mh.SHA2_256}.Sum(data)
}

func (b aheadBuilder) GetCodec() uint64 { return b.codec }

func (b aheadBuilder) WithCodec(c uint64) cid.Builder {
	return aheadBuilder{codec: c, ahead: b.ahead}
}

// emitter is the DAG service the importer writes to: it hands each node to
// emit and keeps nothing.
type emitter struct {
	emit func(ipld.Node) error
	err  error // the first error of emit, returned as it is
}

func (e *emitter) Add(_ context.Context, n ipld.Node) error {
	if e.err != nil {
		return e.err
	}
	if err := e.emit(n); err != nil {
		e.err = err
		return err
	}
	return nil
}

func (e *emitter) AddMany(ctx context.Context, ns []ipld.Node) error {
	for _, n := range ns {
		if err := e.Add(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

func (e *emitter) Get(context.Context, cid.Cid) (ipld.Node, error) {
	return nil, errors.New("block: the importer's DAG service is write-only")
}

func (e *emitter) GetMany(context.Context, []cid.Cid) <-chan *ipld.NodeOption {
	ch := make(chan *ipld.NodeOption, 1)
	ch <- &ipld.NodeOption{Err: errors.New("block: the importer's DAG service is write-only")}
	close(ch)
	return ch
}

func (e *emitter) Remove(context.Context, cid.Cid) error       { return nil }
func (e *emitter) RemoveMany(context.Context, []cid.Cid) error { return nil }

var _ ipld.DAGService = (*emitter)(nil)

// Link is one child of a node: its CID and how many bytes of the file lie
// under it.
type Link struct {
	CID  cid.Cid
	Size uint64
}

// Node is a decoded block of a UnixFS file: a raw leaf (all Data) or a
// dag-pb file node (Data, then its children's bytes in order).
type Node struct {
	Data  []byte // the file's bytes held in the block itself
	Links []Link
	Size  uint64 // the file's bytes under this block
}

// DecodeNode reads a block of a UnixFS file. A raw block is a leaf. A dag-pb
// block must be a UnixFS file (or raw) node with a size for every link,
// every child a CID this system stores, and a filesize, when set, that
// agrees with its data and children. The CID is not checked against the
// bytes here: Verify does that.
func DecodeNode(b Block) (Node, error) {
	switch b.CID.Prefix().Codec {
	case CodecRaw:
		return Node{Data: b.Data, Size: uint64(len(b.Data))}, nil
	case CodecNode:
	default:
		return Node{}, fmt.Errorf("%w: %s has codec 0x%x", ErrBadNode, b.CID, b.CID.Prefix().Codec)
	}
	pn, err := dag.DecodeProtobuf(b.Data)
	if err != nil {
		return Node{}, fmt.Errorf("%w: %s: %v", ErrBadNode, b.CID, err)
	}
	fsn, err := ft.FSNodeFromBytes(pn.Data())
	if err != nil {
		return Node{}, fmt.Errorf("%w: %s: %v", ErrBadNode, b.CID, err)
	}
	if t := fsn.Type(); t != ufspb.Data_File && t != ufspb.Data_Raw {
		return Node{}, fmt.Errorf("%w: %s is a UnixFS %s, not a file", ErrBadNode, b.CID, t)
	}
	links, sizes := pn.Links(), fsn.BlockSizes()
	if len(links) != len(sizes) {
		return Node{}, fmt.Errorf("%w: %s has %d links and %d block sizes", ErrBadNode, b.CID, len(links), len(sizes))
	}
	n := Node{Data: fsn.Data(), Links: make([]Link, len(links))}
	n.Size = uint64(len(n.Data))
	for i, l := range links {
		if err := Check(l.Cid); err != nil {
			return Node{}, fmt.Errorf("%w: %s: link %d: %v", ErrBadNode, b.CID, i, err)
		}
		n.Links[i] = Link{CID: l.Cid, Size: sizes[i]}
		if n.Size+sizes[i] < n.Size {
			return Node{}, fmt.Errorf("%w: %s: sizes overflow", ErrBadNode, b.CID)
		}
		n.Size += sizes[i]
	}
	if fs := fsn.FileSize(); fs != n.Size && (fs != 0 || len(links) > 0 || len(n.Data) > 0) {
		return Node{}, fmt.Errorf("%w: %s says %d bytes, its data and children hold %d", ErrBadNode, b.CID, fs, n.Size)
	}
	return n, nil
}

// Fetcher returns block c with its bytes checked against c.
type Fetcher func(ctx context.Context, c cid.Cid) (Block, error)

// Piece is a run of a file's bytes, in file order: a raw leaf to read (CID
// set, Size bytes), or bytes held in a node itself (Data, CID undefined).
type Piece struct {
	CID  cid.Cid
	Size uint64
	Data []byte
	// Start is the offset of the piece's first byte in the file.
	Start uint64
}

// Pieces calls yield, in file order, with every piece of the file under
// root that holds a byte of [off, off+n). It fetches the dag-pb nodes on the
// way with fetch, but not the raw leaves: the caller reads those (several at
// once) and checks each is the Size the piece says (CheckLeaf). A node whose
// children do not add up is ErrBadDAG. An error of yield or fetch is
// returned as it is.
func Pieces(ctx context.Context, root Node, off, n uint64, fetch Fetcher, yield func(Piece) error) error {
	if n == 0 {
		return nil
	}
	if off > root.Size || n > root.Size-off {
		return fmt.Errorf("block: %w: range %d+%d past size %d", xnode.ErrInvalidArgument, off, n, root.Size)
	}
	return pieces(ctx, root, 0, off, off+n, fetch, yield, 0)
}

func pieces(ctx context.Context, nd Node, start, from, to uint64, fetch Fetcher, yield func(Piece) error, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: deeper than %d levels", ErrBadDAG, maxDepth)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pos := start
	if len(nd.Data) > 0 {
		end := pos + uint64(len(nd.Data))
		if end > from && pos < to {
			if err := yield(Piece{Data: nd.Data, Size: uint64(len(nd.Data)), Start: pos}); err != nil {
				return err
			}
		}
		pos = end
	}
	for _, l := range nd.Links {
		end := pos + l.Size
		if end > from && pos < to {
			if l.CID.Prefix().Codec == CodecRaw {
				if err := yield(Piece{CID: l.CID, Size: l.Size, Start: pos}); err != nil {
					return err
				}
			} else {
				b, err := fetch(ctx, l.CID)
				if err != nil {
					return err
				}
				child, err := DecodeNode(b)
				if err != nil {
					return err
				}
				if child.Size != l.Size {
					return fmt.Errorf("%w: %s holds %d bytes, its parent says %d", ErrBadDAG, l.CID, child.Size, l.Size)
				}
				if err := pieces(ctx, child, pos, from, to, fetch, yield, depth+1); err != nil {
					return err
				}
			}
		}
		if pos >= to {
			break
		}
		pos = end
	}
	return nil
}

// CheckLeaf reports whether a raw leaf read for p is the size p says.
func CheckLeaf(p Piece, data []byte) error {
	if uint64(len(data)) != p.Size {
		return fmt.Errorf("%w: leaf %s holds %d bytes, its parent says %d", ErrBadDAG, p.CID, len(data), p.Size)
	}
	return nil
}

// Walk calls visit with every block of the DAG under root, root first, then
// each child's DAG in link order (depth first, the order of a CAR a gateway
// serves with order=dfs), fetching each with fetch: the raw leaves under a
// node a few at once, so fetch must be safe for concurrent use. A leaf that
// is not the size its parent says ends the walk with ErrBadDAG. A dag-pb block that
// does not decode as a UnixFS file node ends the walk with ErrBadNode; the
// blocks visit was given are returned as they are.
func Walk(ctx context.Context, root cid.Cid, fetch Fetcher, visit func(Block) error) error {
	return walk(ctx, root, fetch, visit, 0)
}

func walk(ctx context.Context, c cid.Cid, fetch Fetcher, visit func(Block) error, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: deeper than %d levels", ErrBadDAG, maxDepth)
	}
	b, err := fetch(ctx, c)
	if err != nil {
		return err
	}
	nd, err := DecodeNode(b)
	if err != nil {
		return err
	}
	if err := visit(b); err != nil {
		return err
	}
	// The raw leaves under a node are fetched walkAhead at a time and
	// visited in order; a dag-pb child is walked in its turn.
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { // fetches still under way end, and are waited for
		cancel()
		wg.Wait()
	}()
	type fetched struct {
		b   Block
		err error
	}
	pending := make([]chan fetched, len(nd.Links))
	next := 0 // the first link whose fetch has not started
	start := func(upTo int) {
		for ; next < len(nd.Links) && next < upTo; next++ {
			l := nd.Links[next]
			if l.CID.Prefix().Codec != CodecRaw {
				continue
			}
			ch := make(chan fetched, 1)
			pending[next] = ch
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := fetch(ctx, l.CID)
				ch <- fetched{b, err}
			}()
		}
	}
	for i, l := range nd.Links {
		start(i + walkAhead)
		if pending[i] == nil {
			if err := walk(ctx, l.CID, fetch, visit, depth+1); err != nil {
				return err
			}
			continue
		}
		f := <-pending[i]
		if f.err != nil {
			return f.err
		}
		if err := CheckLeaf(Piece{CID: l.CID, Size: l.Size}, f.b.Data); err != nil {
			return err
		}
		if err := visit(f.b); err != nil {
			return err
		}
	}
	return nil
}

// walkAhead is how many leaves of one node Walk fetches at once.
const walkAhead = 4
