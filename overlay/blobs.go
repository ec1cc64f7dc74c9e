package overlay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"golang.org/x/sync/errgroup"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/block"
)

// localBlocks is what the block paths need of the local store (storage.Store).
type localBlocks interface {
	Put(ctx context.Context, b block.Block, tentative bool) error
	PutHashed(ctx context.Context, b block.Block, tentative bool) error
	Get(ctx context.Context, c cid.Cid) (block.Block, error)
	Has(ctx context.Context, c cid.Cid) (bool, error)
	HasMany(ctx context.Context, cs []cid.Cid) ([]bool, error)
	Confirm(ctx context.Context, cs []cid.Cid) error
	Abandon(ctx context.Context, cs []cid.Cid) (int, error)
	Tentative(ctx context.Context, c cid.Cid) (bool, error)
	Delete(ctx context.Context, c cid.Cid) error
	ForEach(ctx context.Context, fn func(c cid.Cid, size int) error) error
}

// remoteBlocks is what they need of the transfer protocol (transfer.Service).
type remoteBlocks interface {
	PutBlock(ctx context.Context, p peer.ID, b block.Block, tentative bool) error
	GetBlock(ctx context.Context, p peer.ID, c cid.Cid) (block.Block, error)
	HasMany(ctx context.Context, p peer.ID, cs []cid.Cid) ([]bool, error)
	Confirm(ctx context.Context, p peer.ID, cs []cid.Cid) error
	Abandon(ctx context.Context, p peer.ID, cs []cid.Cid) error
}

// router is the DHT: the fallback for finding a block during churn, and for
// reaching a member whose addresses this node does not know.
type router interface {
	Provide(ctx context.Context, c cid.Cid) error
	FindProviders(ctx context.Context, c cid.Cid, max int) ([]peer.AddrInfo, error)
	Connect(ctx context.Context, id peer.ID, known []multiaddr.Multiaddr) error
}

// ErrTooFewMembers is a put on a network below its minimum size.
var ErrTooFewMembers = fmt.Errorf("overlay: %w: fewer live members than the network minimum", xnode.ErrUnavailable)

// blocks holds the put and get paths. It is the seam between the API and
// placement: a blob is chunked, each block goes to its owners, and a get
// walks owners in rank order.
type blocks struct {
	self   peer.ID
	local  localBlocks
	remote remoteBlocks
	dht    router // may be nil
	// addrsOf returns what membership says of a peer's addresses; with
	// connected it lets reach skip a dial.
	addrsOf    func(peer.ID) []multiaddr.Multiaddr
	connected  func(peer.ID) bool
	view       func() view
	minMembers int
	chunkSize  int
	inflight   int // blocks of one put in flight at once
	attemptTO  time.Duration
	hedge      time.Duration // start another member's attempt when one is this slow
	suspects   suspects      // members that failed or hung lately: asked last
	log        *slog.Logger
	metrics    *metrics

	wg sync.WaitGroup // background provides and abandons
	bg context.Context

	// claims counts, per CID, this node's puts in flight that place it. A
	// failed put deletes only the local tentative copies no other put of
	// this node still claims (see abandon).
	claimsMu sync.Mutex
	claims   map[cid.Cid]int

	// chunks recycles the buffers a put reads chunks into (*[]byte of
	// chunkSize bytes): a fresh megabyte per chunk costs page faults and
	// zeroing that show in put throughput.
	chunks sync.Pool
}

// inflightBytes is how many bytes of one put's chunks may be hashed and
// stored at once. Enough chunks in flight keep both the hashing (on every
// core) and the stores busy while the next chunks are read, and let the
// local store commit several chunks in one transaction.
const inflightBytes = 16 << 20

// inflightChunks is inflightBytes in chunks of chunkSize, and at least 4.
func inflightChunks(chunkSize int) int {
	return max(4, inflightBytes/chunkSize)
}

// chunkBuf returns a buffer for one chunk, from the pool when it has one.
func (bs *blocks) chunkBuf() *[]byte {
	if p, ok := bs.chunks.Get().(*[]byte); ok && cap(*p) >= bs.chunkSize {
		return p
	}
	b := make([]byte, bs.chunkSize)
	return &b
}

// storeOn stores b on p (self means the local store). hashed says b's CID
// was computed from its bytes in this process (the put path), so the local
// store need not hash it again; a peer always does.
func (bs *blocks) storeOn(ctx context.Context, p peer.ID, b block.Block, tentative, hashed bool) error {
	if p == bs.self {
		if hashed {
			return bs.local.PutHashed(ctx, b, tentative)
		}
		return bs.local.Put(ctx, b, tentative)
	}
	ctx, cancel := context.WithTimeout(ctx, bs.attemptTO)
	defer cancel()
	if err := bs.reach(ctx, p); err != nil {
		return err
	}
	return bs.remote.PutBlock(ctx, p, b, tentative)
}

// reach makes sure p can be talked to: already connected, or dialled at the
// addresses membership announced, or found through the DHT (FindPeer).
func (bs *blocks) reach(ctx context.Context, p peer.ID) error {
	if bs.dht == nil || bs.connected == nil || bs.connected(p) {
		return nil
	}
	var known []multiaddr.Multiaddr
	if bs.addrsOf != nil {
		known = bs.addrsOf(p)
	}
	if err := bs.dht.Connect(ctx, p, known); err != nil {
		return fmt.Errorf("overlay: %w: cannot reach %s: %v", xnode.ErrUnavailable, p, err)
	}
	return nil
}

// place stores b durably on want members: the owners first, and on down
// the ranking for any that fail or hang (see spread). It returns who holds it.
//
// release, if not nil, is called once nothing uses b.Data any more: after
// place returns and every attempt it started has finished. spread does not
// wait for attempts it gave up on, so that can be later than the return.
func (bs *blocks) place(ctx context.Context, v view, b block.Block, want int, release func()) ([]peer.ID, error) {
	return bs.placeAmong(ctx, v.ranked(b.CID), b, want, release)
}

// placeAmong is place over the given candidates, best first.
func (bs *blocks) placeAmong(ctx context.Context, candidates []peer.ID, b block.Block, want int, release func()) ([]peer.ID, error) {
	l := &lease{release: release}
	defer l.end()
	wins, errs := spread(ctx, bs.suspects.last(candidates), want, bs.hedge, func(ctx context.Context, p peer.ID) (struct{}, error) {
		if !l.acquire() {
			return struct{}{}, fmt.Errorf("overlay: %w: block %s already placed", context.Canceled, b.CID)
		}
		defer l.done()
		// Any error, a transport one included, fails this member only:
		// spread goes on down the ranking. One that hangs past the hedge
		// delay is asked last by the next blocks too.
		if p != bs.self {
			hung := time.AfterFunc(bs.hedge, func() { bs.suspects.note(p) })
			defer hung.Stop()
		}
		err := bs.storeOn(ctx, p, b, true, true)
		if err != nil && ctx.Err() == nil {
			if p != bs.self {
				bs.suspects.note(p)
			}
			bs.log.Warn("store on member failed; trying the next", "cid", b.CID, "peer", p, "err", err)
		}
		return struct{}{}, err
	})
	holders := make([]peer.ID, len(wins))
	for i, w := range wins {
		holders[i] = w.peer
	}
	if err := ctx.Err(); err != nil {
		return holders, err
	}
	if len(holders) < want {
		return holders, fmt.Errorf("overlay: %w: block %s stored on %d of %d members: %v", xnode.ErrUnavailable, b.CID, len(holders), want, errors.Join(errs...))
	}
	return holders, nil
}

// lease lends a buffer to the attempts of one operation and calls release
// once the operation has ended and no attempt still uses it. An attempt that
// only starts after the end gets nothing (acquire is false), so a released
// buffer is never touched again by this operation.
type lease struct {
	mu      sync.Mutex
	ended   bool
	users   int
	release func() // may be nil
}

// acquire admits an attempt; it must call done when it no longer uses the
// buffer. It is false once the operation has ended.
func (l *lease) acquire() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return false
	}
	l.users++
	return true
}

func (l *lease) done() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users--
	l.settle()
}

// end marks the operation over.
func (l *lease) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = true
	l.settle()
}

func (l *lease) settle() {
	if l.ended && l.users == 0 && l.release != nil {
		l.release()
		l.release = nil
	}
}

// PutBlob streams r into chunks and builds the blob's UnixFS file over them
// (block.Import), placing each block, leaf, intermediate node and root, on
// its own owners in parallel as it comes, then confirms every copy. It returns only when min(R, live
// members) members hold every block durably. On any error nothing is
// acknowledged, and the tentative copies it placed are deleted (see
// abandon); what a holder could not be told of, its GC collects.
func (bs *blocks) PutBlob(ctx context.Context, r io.Reader) (api.PutResult, error) {
	ps := &putState{placed: map[peer.ID][]cid.Cid{}}
	res, err := bs.putBlob(ctx, r, ps)
	bs.endPut(ps, err)
	return res, err
}

// putState is what one put has claimed and placed, for endPut.
type putState struct {
	mu      sync.Mutex
	claimed []cid.Cid
	placed  map[peer.ID][]cid.Cid // holder → the copies it took, tentative
}

func (ps *putState) record(c cid.Cid, holders []peer.ID) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range holders {
		ps.placed[p] = append(ps.placed[p], c)
	}
}

// claim notes that a put of this node is about to place c.
func (bs *blocks) claim(ps *putState, c cid.Cid) {
	bs.claimsMu.Lock()
	defer bs.claimsMu.Unlock()
	if bs.claims == nil {
		bs.claims = map[cid.Cid]int{}
	}
	bs.claims[c]++
	ps.mu.Lock()
	ps.claimed = append(ps.claimed, c)
	ps.mu.Unlock()
}

// endPut ends a put: it drops the put's claims and, if the put failed,
// abandons its copies. The local ones no other put of this node claims are
// deleted before it returns, so a refused upload leaves nothing stored here;
// the other holders are told in the background.
//
// Another member's put of the same bytes may lose a tentative copy to this;
// its confirm then fails on that copy and it places the block again, so
// nothing acknowledged is lost (storage.Store.Confirm).
func (bs *blocks) endPut(ps *putState, putErr error) {
	bs.claimsMu.Lock()
	defer bs.claimsMu.Unlock()
	for _, c := range ps.claimed {
		if bs.claims[c]--; bs.claims[c] <= 0 {
			delete(bs.claims, c)
		}
	}
	if putErr == nil {
		return
	}
	// Held under claimsMu, so no put of this node claims one of these
	// between the check and the delete. Every block the put claimed is
	// offered, not only those it recorded as placed here: a local write
	// that committed while its attempt was being given up (the put's
	// context ended) left a tentative copy that no holder list names.
	// Abandon deletes only tentative copies, and skips blocks not held.
	var mine []cid.Cid
	seen := map[cid.Cid]bool{}
	for _, c := range ps.claimed {
		if bs.claims[c] == 0 && !seen[c] {
			seen[c] = true
			mine = append(mine, c)
		}
	}
	if len(mine) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := bs.local.Abandon(ctx, mine)
		cancel()
		bs.metrics.putAbandoned.Add(float64(n))
		if err != nil {
			bs.log.Warn("could not delete a failed put's copies; GC will", "blocks", len(mine), "err", err)
		}
	}
	if bs.bg == nil {
		return
	}
	for p, cs := range ps.placed {
		if p == bs.self {
			continue
		}
		bs.wg.Add(1)
		go func() {
			defer bs.wg.Done()
			ctx, cancel := context.WithTimeout(bs.bg, bs.attemptTO)
			defer cancel()
			if err := bs.remote.Abandon(ctx, p, cs); err != nil && bs.bg.Err() == nil {
				bs.log.Debug("could not tell a holder a put failed; its GC will collect the copies", "peer", p, "blocks", len(cs), "err", err)
			}
		}()
	}
}

func (bs *blocks) putBlob(ctx context.Context, r io.Reader, ps *putState) (api.PutResult, error) {
	v := bs.view()
	if v.size() < bs.minMembers {
		return api.PutResult{}, fmt.Errorf("%w: %d live, need %d", ErrTooFewMembers, v.size(), bs.minMembers)
	}
	want := v.want()
	ch, err := block.NewChunker(r, bs.chunkSize)
	if err != nil {
		return api.PutResult{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(bs.inflight)
	// The importer cuts and hashes the chunks and builds the UnixFS nodes
	// over them; each block it hands over, leaf or node, is placed on its
	// own owners while it reads on. g.Go blocks once bs.inflight blocks are
	// being placed, which holds the reading back.
	spl := &pooledChunks{bs: bs, ch: ch, ctx: gctx}
	res, importErr := block.Import(spl, func(b block.Block) error {
		if err := gctx.Err(); err != nil {
			return err
		}
		release := spl.release(b)
		bs.claim(ps, b.CID)
		g.Go(func() error {
			holders, err := bs.place(gctx, v, b, want, release)
			ps.record(b.CID, holders) // those that took it, also when too few did
			return err
		})
		return nil
	})
	if err := g.Wait(); err != nil {
		return api.PutResult{}, err
	}
	if importErr != nil {
		return api.PutResult{}, importErr
	}
	if err := ctx.Err(); err != nil {
		return api.PutResult{}, err
	}
	root := res.Root.CID // res.Root.Data of a one-chunk blob is back in the pool
	rootHere := slices.Contains(ps.placed[bs.self], root)
	if err := bs.confirm(ctx, v, ps.placed); err != nil {
		return api.PutResult{}, err
	}
	bs.metrics.putBlobs.Inc()
	bs.metrics.putBytes.Add(float64(res.Size))
	// A provider record sends a peer that misses the root's owners here,
	// so it is made only where the root is held; the other holders of the
	// root are found from its ranking.
	if rootHere {
		bs.provide(root)
	}
	return api.PutResult{CID: root.String(), Size: res.Size, Chunks: res.Leaves, Replicas: want}, nil
}

// pooledChunks is the put's block.Splitter: it reads each chunk into a
// buffer from the pool, and stops reading once the put has failed.
type pooledChunks struct {
	bs  *blocks
	ch  *block.Chunker
	ctx context.Context
}

func (p *pooledChunks) NextBytes() ([]byte, error) {
	if err := p.ctx.Err(); err != nil {
		return nil, err
	}
	buf := p.bs.chunkBuf()
	data, err := p.ch.NextInto(*buf)
	switch {
	case errors.Is(err, io.EOF):
		p.bs.chunks.Put(buf)
		return nil, io.EOF
	case err != nil:
		p.bs.chunks.Put(buf)
		return nil, fmt.Errorf("overlay: reading blob: %w", err)
	}
	return data, nil
}

// release returns what gives b's bytes back to the pool once placed: a raw
// leaf's bytes are a pooled chunk buffer, a node's are the importer's own.
func (p *pooledChunks) release(b block.Block) func() {
	if b.CID.Prefix().Codec != block.CodecRaw || cap(b.Data) < p.bs.chunkSize {
		return nil
	}
	return func() {
		buf := b.Data[:cap(b.Data)]
		p.bs.chunks.Put(&buf)
	}
}

// confirm tells every holder that its blocks belong to an acknowledged
// blob, and returns once every block is confirmed on as many members as
// placed it. A member that cannot be told (it failed after storing its
// copies) is replaced: each of its blocks is read back from another holder
// and placed on the next member in the block's ranking that holds none,
// which is told instead. The failed member's copies stay tentative, so its
// store collects them if it comes back; repair later moves the new copies
// to the owners.
func (bs *blocks) confirm(ctx context.Context, v view, confirms map[peer.ID][]cid.Cid) error {
	held := map[cid.Cid]map[peer.ID]bool{}
	for p, cs := range confirms {
		for _, c := range cs {
			if held[c] == nil {
				held[c] = map[peer.ID]bool{}
			}
			held[c][p] = true
		}
	}
	lost := map[peer.ID]bool{}
	for len(confirms) > 0 {
		failed, err := bs.tell(ctx, confirms)
		if err != nil {
			return err
		}
		// Each block gets as many new copies as it lost.
		short := map[cid.Cid]int{}
		for p, err := range failed {
			lost[p] = true
			for _, c := range confirms[p] {
				delete(held[c], p)
				short[c]++
			}
			bs.log.Warn("a holder could not confirm; placing its blocks on other members", "peer", p, "blocks", len(confirms[p]), "err", err)
		}
		var mu sync.Mutex
		next := map[peer.ID][]cid.Cid{}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(bs.inflight)
		for c, n := range short {
			var candidates []peer.ID
			for _, q := range v.ranked(c) {
				if !lost[q] && !held[c][q] {
					candidates = append(candidates, q)
				}
			}
			g.Go(func() error {
				qs, err := bs.replace(gctx, c, candidates, n)
				if err != nil {
					return fmt.Errorf("overlay: %d holders of %s failed before confirming it, and it could not be placed again: %w", n, c, err)
				}
				bs.metrics.putReplaced.Add(float64(len(qs)))
				mu.Lock()
				defer mu.Unlock()
				for _, q := range qs {
					held[c][q] = true
					next[q] = append(next[q], c)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
		confirms = next
	}
	return nil
}

// tell confirms every holder's blocks on it, in parallel. It returns the
// holders that could not be told, with why: remote ones that failed, and
// this node when its store no longer holds a copy. Any other error of the
// local store, or of ctx, fails the whole confirm.
func (bs *blocks) tell(ctx context.Context, confirms map[peer.ID][]cid.Cid) (map[peer.ID]error, error) {
	var mu sync.Mutex
	failed := map[peer.ID]error{}
	g, gctx := errgroup.WithContext(ctx)
	for p, cs := range confirms {
		g.Go(func() error {
			if p == bs.self {
				err := bs.local.Confirm(gctx, cs)
				if errors.Is(err, xnode.ErrNotFound) {
					// A copy went before it was confirmed (another
					// member's failed put abandoned it): place it
					// elsewhere, as for a holder that failed.
					mu.Lock()
					defer mu.Unlock()
					failed[p] = err
					return nil
				}
				return err
			}
			// The transfer client splits a long list into requests. A
			// holder that does not answer within confirmTimeout (a
			// partition began after it took its copies) is treated as
			// failed, as one that refuses: its blocks go to other members.
			cctx, cancel := context.WithTimeout(gctx, bs.confirmTimeout(len(cs)))
			defer cancel()
			if err := bs.remote.Confirm(cctx, p, cs); err != nil {
				if gctx.Err() != nil {
					return gctx.Err()
				}
				bs.suspects.note(p)
				mu.Lock()
				defer mu.Unlock()
				failed[p] = err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("overlay: confirm: %w", err)
	}
	return failed, nil
}

// confirmTimeout bounds confirming n copies on one holder: two hedge
// delays, and a millisecond more per copy for a long list (a confirm is a
// small write per copy, done in batches).
func (bs *blocks) confirmTimeout(n int) time.Duration {
	return 2*bs.hedge + time.Duration(n)*time.Millisecond
}

// replace reads block c from wherever it is held and stores it, tentative,
// on the first n of candidates that take it, returning who they are.
func (bs *blocks) replace(ctx context.Context, c cid.Cid, candidates []peer.ID, n int) ([]peer.ID, error) {
	if len(candidates) < n {
		return nil, fmt.Errorf("overlay: %w: %d other live members, %d copies to place", xnode.ErrUnavailable, len(candidates), n)
	}
	b, err := bs.fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	return bs.placeAmong(ctx, candidates, b, n, nil)
}

// provide publishes a provider record for a root in the background: it is a
// location fallback, not part of the acknowledgement.
func (bs *blocks) provide(c cid.Cid) {
	if bs.dht == nil || bs.bg == nil {
		return
	}
	bs.wg.Add(1)
	go func() {
		defer bs.wg.Done()
		ctx, cancel := context.WithTimeout(bs.bg, 30*time.Second)
		defer cancel()
		if err := bs.dht.Provide(ctx, c); err != nil && bs.bg.Err() == nil {
			bs.log.Debug("provide failed", "cid", c, "err", err)
		}
	}()
}

// fetch returns block c, verified. It reads the local copy first; a corrupt
// local copy has already been dropped by the store, so it is fetched again
// from another owner and stored back. Then the owners in rank order, then
// the rest of the membership, then DHT providers.
func (bs *blocks) fetch(ctx context.Context, c cid.Cid) (block.Block, error) {
	var corrupt bool
	b, err := bs.local.Get(ctx, c)
	switch {
	case err == nil:
		return b, nil
	case errors.Is(err, xnode.ErrIntegrity):
		corrupt = true
		bs.log.Warn("local copy failed its integrity check; fetching another", "cid", c)
	case !errors.Is(err, xnode.ErrNotFound):
		return block.Block{}, err
	}
	get := func(ctx context.Context, p peer.ID) (block.Block, error) {
		actx, cancel := context.WithTimeout(ctx, bs.attemptTO)
		defer cancel()
		if err := bs.reach(actx, p); err != nil {
			return block.Block{}, err
		}
		b, err := bs.remote.GetBlock(actx, p, c)
		if err != nil && ctx.Err() == nil {
			bs.log.Debug("fetch from member failed", "cid", c, "peer", p, "err", err)
		}
		return b, err
	}
	others := func(ps []peer.ID, skip map[peer.ID]bool) []peer.ID {
		var out []peer.ID
		for _, p := range ps {
			if !skip[p] {
				skip[p] = true
				out = append(out, p)
			}
		}
		return out
	}
	tried := map[peer.ID]bool{bs.self: true}
	// The members in rank order (owners first), one at a time, hedged.
	wins, errs := spread(ctx, bs.suspects.last(others(bs.view().ranked(c), tried)), 1, bs.hedge, get)
	if len(wins) == 0 && bs.dht != nil && ctx.Err() == nil {
		// During churn a block may sit on a former owner: ask the DHT.
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		provs, _ := bs.dht.FindProviders(pctx, c, 8)
		cancel()
		var ids []peer.ID
		for _, ai := range provs {
			ids = append(ids, ai.ID)
		}
		var more []error
		wins, more = spread(ctx, others(ids, tried), 1, bs.hedge, get)
		errs = append(errs, more...)
	}
	if len(wins) > 0 {
		return bs.keep(ctx, wins[0].v, corrupt), nil
	}
	if err := ctx.Err(); err != nil {
		return block.Block{}, err
	}
	var sawIntegrity, sawOther bool
	for _, err := range errs {
		switch {
		case errors.Is(err, xnode.ErrIntegrity):
			sawIntegrity = true
		case !errors.Is(err, xnode.ErrNotFound):
			sawOther = true
		}
	}
	switch {
	case corrupt || sawIntegrity:
		return block.Block{}, fmt.Errorf("overlay: block %s: %w: no intact copy found", c, xnode.ErrIntegrity)
	case sawOther:
		return block.Block{}, fmt.Errorf("overlay: block %s: %w: no member holding it answered", c, xnode.ErrUnavailable)
	}
	return block.Block{}, fmt.Errorf("overlay: block %s: %w", c, xnode.ErrNotFound)
}

// keep stores a block fetched to replace a corrupt local copy.
func (bs *blocks) keep(ctx context.Context, b block.Block, replace bool) block.Block {
	if replace {
		if err := bs.local.Put(ctx, b, false); err != nil {
			bs.log.Warn("could not store the repaired copy", "cid", b.CID, "err", err)
		} else {
			bs.metrics.repairedCorrupt.Inc()
		}
	}
	return b
}

// OpenBlob fetches and decodes the root of a blob: a UnixFS file node, or
// a raw leaf, which is a file of its own (a blob of one chunk, or any chunk
// of a larger one).
func (bs *blocks) OpenBlob(ctx context.Context, root cid.Cid) (api.Blob, error) {
	rb, err := bs.fetch(ctx, root)
	if err != nil {
		return nil, err
	}
	nd, err := block.DecodeNode(rb)
	if err != nil {
		return nil, fmt.Errorf("overlay: blob %s: %w", root, err)
	}
	return &blob{bs: bs, root: nd}, nil
}

// GetBlock returns one block, checked against its CID (api.Node).
func (bs *blocks) GetBlock(ctx context.Context, c cid.Cid) ([]byte, error) {
	b, err := bs.fetch(ctx, c)
	if err != nil {
		return nil, err
	}
	return b.Data, nil
}

// dagBlocks lists the blocks of the DAG under root after the root itself,
// in DAG order, with each one's size: the nodes are fetched to find their
// children, the leaves are not (a leaf's size is in its parent). It also
// returns the root's own size and the blob's. A root that is not a file
// has no blocks below it.
func (bs *blocks) dagBlocks(ctx context.Context, root cid.Cid) (rootSize int, blobSize uint64, cids []cid.Cid, sizes []int, err error) {
	rb, err := bs.fetch(ctx, root)
	if err != nil {
		return 0, 0, nil, nil, err
	}
	nd, err := block.DecodeNode(rb)
	if err != nil {
		return len(rb.Data), 0, nil, nil, nil
	}
	var visit func(nd block.Node, depth int) error
	visit = func(nd block.Node, depth int) error {
		for _, l := range nd.Links {
			cids = append(cids, l.CID)
			if !block.IsManifest(l.CID) {
				sizes = append(sizes, int(l.Size))
				continue
			}
			b, err := bs.fetch(ctx, l.CID)
			if err != nil {
				sizes = append(sizes, 0)
				continue
			}
			sizes = append(sizes, len(b.Data))
			child, err := block.DecodeNode(b)
			if err != nil || depth > 16 {
				continue
			}
			if err := visit(child, depth+1); err != nil {
				return err
			}
		}
		return ctx.Err()
	}
	err = visit(nd, 0)
	return len(rb.Data), nd.Size, cids, sizes, err
}

// blob is an opened blob.
type blob struct {
	bs   *blocks
	root block.Node
}

func (b *blob) Size() uint64 { return b.root.Size }

// Range reads n bytes from off. It walks the DAG down to the leaves that
// hold the range (block.Pieces) and fetches those leaves a few at a time
// ahead of the reader, so a get runs at several owners in parallel. Every
// leaf must be the size its parent says.
func (b *blob) Range(ctx context.Context, off, n uint64) (io.ReadCloser, error) {
	size := b.root.Size
	if off > size || n > size-off {
		return nil, fmt.Errorf("overlay: %w: range %d+%d past size %d", xnode.ErrInvalidArgument, off, n, size)
	}
	ctx, cancel := context.WithCancel(ctx)
	rr := &rangeReader{cancel: cancel, remaining: n}
	if n == 0 {
		return rr, nil
	}
	rr.chunks = make(chan chunkResult, prefetch)
	rr.wg.Add(1)
	go func() {
		defer rr.wg.Done()
		defer close(rr.chunks)
		// A window of fetches in flight, delivered in order.
		type pending struct{ ch chan chunkResult }
		window := make(chan pending, prefetch)
		rr.wg.Add(1)
		go func() {
			defer rr.wg.Done()
			defer close(window)
			err := block.Pieces(ctx, b.root, off, n, b.bs.fetch, func(pc block.Piece) error {
				p := pending{ch: make(chan chunkResult, 1)}
				select {
				case window <- p:
				case <-ctx.Done():
					return ctx.Err()
				}
				skip := max(off, pc.Start) - pc.Start // only the first piece starts before off
				if !pc.CID.Defined() {
					p.ch <- chunkResult{data: pc.Data[skip:]}
					return nil
				}
				rr.wg.Add(1)
				go func() {
					defer rr.wg.Done()
					blk, err := b.bs.fetch(ctx, pc.CID)
					if err == nil {
						err = block.CheckLeaf(pc, blk.Data)
					}
					if err != nil {
						p.ch <- chunkResult{err: err}
						return
					}
					p.ch <- chunkResult{data: blk.Data[skip:]}
				}()
				return nil
			})
			if err != nil && ctx.Err() == nil {
				// A node on the way could not be had: the reader gets the
				// error after the bytes before it.
				p := pending{ch: make(chan chunkResult, 1)}
				p.ch <- chunkResult{err: err}
				select {
				case window <- p:
				case <-ctx.Done():
				}
			}
		}()
		for p := range window {
			var res chunkResult
			select {
			case res = <-p.ch:
			case <-ctx.Done():
				res = chunkResult{err: ctx.Err()}
			}
			select {
			case rr.chunks <- res:
			case <-ctx.Done():
				return
			}
			if res.err != nil {
				return
			}
		}
	}()
	return rr, nil
}

const prefetch = 4

type chunkResult struct {
	data []byte
	err  error
}

type rangeReader struct {
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	chunks    chan chunkResult
	cur       []byte
	remaining uint64
	err       error
	closeOnce sync.Once
}

// fill makes r.cur the next bytes of the range, waiting for the next chunk
// when the current one is used up. It returns io.EOF at the range's end.
func (r *rangeReader) fill() error {
	for len(r.cur) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.remaining == 0 {
			return io.EOF
		}
		res, ok := <-r.chunks
		if !ok {
			r.err = fmt.Errorf("overlay: %w: blob read ended early", xnode.ErrUnavailable)
			continue
		}
		if res.err != nil {
			r.err = res.err
			continue
		}
		data := res.data
		if uint64(len(data)) > r.remaining {
			data = data[:r.remaining]
		}
		r.cur = data
	}
	return nil
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	r.remaining -= uint64(n)
	return n, nil
}

// WriteTo writes the rest of the range to w a chunk at a time, sparing the
// copy through a caller's buffer that Read needs (io.Copy uses it).
func (r *rangeReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.fill(); err != nil {
			if errors.Is(err, io.EOF) {
				return total, nil
			}
			return total, err
		}
		n, err := w.Write(r.cur)
		r.cur = r.cur[n:]
		r.remaining -= uint64(n)
		total += int64(n)
		if err != nil {
			return total, err
		}
	}
}

func (r *rangeReader) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		if r.chunks != nil {
			for range r.chunks { // drain so the producer can exit
			}
		}
		r.wg.Wait()
	})
	return nil
}
