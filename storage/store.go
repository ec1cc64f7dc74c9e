package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

var (
	// ErrNotFound is a block this store does not hold.
	ErrNotFound = fmt.Errorf("storage: block %w", xnode.ErrNotFound)
	// ErrTooLarge is a block over block.MaxChunkSize.
	ErrTooLarge = fmt.Errorf("storage: block %w", xnode.ErrTooLarge)
	// ErrClosed is any call on a closed Store.
	ErrClosed = fmt.Errorf("storage: %w: store closed", xnode.ErrUnavailable)
)

// Usage is what the store holds: the number of blocks and the sum of their
// sizes (block bytes, not disk use, which badger's logs and tables add to).
type Usage struct {
	Blocks int64
	Bytes  int64
}

// Store is the local block store. See the package doc for its contracts.
type Store struct {
	cfg     Config
	realDir string // cfg.Dir as /proc/self/maps names it
	db      *badger.DB
	log     *slog.Logger
	m       *metrics

	// Usage counters: recounted at Open, then moved by exactly what each
	// committed transaction changed.
	blocks atomic.Int64
	bytes  atomic.Int64

	// writes groups the puts of concurrent callers into shared transactions.
	writes writeGroup

	// unsynced counts bytes written since the last sync; past
	// cfg.WriteBehind, a token in syncSoon asks the loop for a background
	// sync.
	unsynced atomic.Int64
	syncSoon chan struct{}
	// undropped counts bytes written since the last drop pass (when
	// dropWritten), which runs on the same token.
	undropped   atomic.Int64
	dropWritten bool

	// segs holds the block bytes (nil InMemory, where they stay in badger
	// under b/ keys).
	segs *segments

	closed atomic.Bool
	// ops is held shared by every operation that touches db and exclusively
	// by Close around db.Close, so badger is never used after it closes.
	ops sync.RWMutex

	life    sync.Mutex // guards started and cancel
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Open opens (or creates) the store described by cfg and recounts its usage.
// Metrics go to reg (nil: not registered) and logs to log (nil: discarded).
// It starts no goroutine of ours; Start runs the GC loop.
func Open(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := badger.Open(cfg.badgerOptions(log.With("lib", "badger")))
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", cfg.Dir, err)
	}
	s := &Store{cfg: cfg, db: db, log: log, syncSoon: make(chan struct{}, 1)}
	if !cfg.InMemory {
		s.realDir = resolveDir(cfg.Dir)
		if s.segs, err = openSegments(filepath.Join(cfg.Dir, segmentDir), cfg.SegmentFileSize); err != nil {
			return nil, errors.Join(fmt.Errorf("storage: open %s: segments: %w", cfg.Dir, err), db.Close())
		}
	}
	s.dropWritten = cfg.DropWritten && cfg.WriteBehind > 0 && cfg.SyncWrites && !cfg.InMemory
	fail := func(err error) (*Store, error) {
		if s.segs != nil {
			err = errors.Join(err, s.segs.close())
		}
		return nil, errors.Join(err, db.Close())
	}
	if err := s.recount(); err != nil {
		return fail(err)
	}
	if s.m, err = newMetrics(reg, s); err != nil {
		return fail(err)
	}
	u := s.Usage()
	log.Debug("block store open", "dir", cfg.Dir, "blocks", u.Blocks, "bytes", u.Bytes)
	return s, nil
}

// Start runs the periodic loop (GC every Config.GCInterval, release of mapped
// segment and value-log pages every 30 s, background syncs asked for by
// Config.WriteBehind) until ctx ends or Close is called, and, with
// Config.VerifyOnStart, one verification pass over every block (VerifyAll)
// beside it.
func (s *Store) Start(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	if s.started {
		return errors.New("storage: already started")
	}
	s.started = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go s.gcLoop(ctx)
	if s.cfg.VerifyOnStart {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.verifyOnStart(ctx)
		}()
	}
	return nil
}

// Close stops the GC loop, waits for it and for calls in flight, then closes
// badger. It is idempotent.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.life.Lock()
	cancel := s.cancel
	s.life.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.ops.Lock()
	defer s.ops.Unlock()
	err := s.db.Close()
	if s.segs != nil {
		err = errors.Join(err, s.segs.close())
	}
	if err != nil {
		return fmt.Errorf("storage: close: %w", err)
	}
	return nil
}

// acquire admits one operation; release ends it.
func (s *Store) acquire() error {
	s.ops.RLock()
	if s.closed.Load() {
		s.ops.RUnlock()
		return ErrClosed
	}
	return nil
}

func (s *Store) release() { s.ops.RUnlock() }

// DB returns the underlying badger database, for tests and tools only:
// writes through it bypass every check and the usage counters.
func (s *Store) DB() *badger.DB { return s.db }

// BlockKey returns the badger key under which block c's bytes are stored
// inline (see the layout in doc.go: an InMemory store, and blocks written
// before segment files), for tests and tools that work through DB, such as
// one that flips a stored byte to test integrity checks. Bytes set under it
// are what Get reads, even for a block whose copy is in a segment.
func BlockKey(c cid.Cid) []byte { return blockKey(c) }

// Usage returns the store's block count and bytes. It is O(1).
func (s *Store) Usage() Usage {
	return Usage{Blocks: s.blocks.Load(), Bytes: s.bytes.Load()}
}

// Put verifies b against its CID and stores it; see PutMany.
func (s *Store) Put(ctx context.Context, b block.Block, tentative bool) error {
	return s.PutMany(ctx, []block.Block{b}, tentative)
}

// PutMany verifies every block against its CID, then stores them all in one
// transaction (one fsync with SyncWrites; badger may need several for very
// many blocks). A block whose bytes do not match its CID fails the whole call
// with an error wrapping block.ErrMismatch before anything is stored, and is
// counted in xnode_storage_integrity_failures_total.
//
// tentative marks new blocks unconfirmed (an upload in progress) and refreshes
// the age of blocks already tentative; a block already confirmed stays
// confirmed. tentative=false stores confirmed blocks and confirms tentative
// ones. A block already stored is not rewritten. The caller must not modify
// the blocks' Data until PutMany returns.
func (s *Store) PutMany(ctx context.Context, bs []block.Block, tentative bool) error {
	return s.putMany(ctx, bs, tentative, true)
}

// PutHashed stores a block whose CID this process has just computed from its
// bytes (block.NewRaw, a chunker, Manifest.Block), so hashing it again would
// check nothing: the bytes came from no disk and no peer between the hash and
// this call. Blocks received from elsewhere go through Put.
func (s *Store) PutHashed(ctx context.Context, b block.Block, tentative bool) error {
	if len(b.Data) > block.MaxChunkSize {
		return fmt.Errorf("%w: %s has %d bytes, at most %d", ErrTooLarge, b.CID, len(b.Data), block.MaxChunkSize)
	}
	return s.putMany(ctx, []block.Block{b}, tentative, false)
}

func (s *Store) putMany(ctx context.Context, bs []block.Block, tentative, verify bool) error {
	if len(bs) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: put: %w", err)
	}
	if verify {
		if err := s.verifyAll(ctx, bs); err != nil {
			return err
		}
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	if err := s.writes.write(newGroupWrite(bs, tentative), s.commitGroup); err != nil {
		return fmt.Errorf("storage: put: %w", err)
	}
	s.wrote(blockBytes(bs), !tentative)
	if !tentative {
		return s.sync("put")
	}
	return nil
}

// blockBytes is the sum of the blocks' sizes.
func blockBytes(bs []block.Block) int64 {
	var n int64
	for _, b := range bs {
		n += int64(len(b.Data))
	}
	return n
}

// wrote notes n bytes written (to be synced by the caller, or not), and asks
// the loop for a background pass once cfg.WriteBehind have piled up unsynced
// or undropped.
func (s *Store) wrote(n int64, synced bool) {
	if s.cfg.WriteBehind <= 0 || !s.cfg.SyncWrites {
		return
	}
	due := false
	if !synced {
		due = s.unsynced.Add(n) >= s.cfg.WriteBehind
	}
	if s.dropWritten && s.undropped.Add(n) >= s.cfg.WriteBehind {
		due = true
	}
	if due {
		select {
		case s.syncSoon <- struct{}{}:
		default: // one is already asked for
		}
	}
}

// commitGroup stores the blocks of a batch of writes in as few transactions
// as badger takes (see writeGroup), and gives every write the outcome.
func (s *Store) commitGroup(batch []*groupWrite) {
	var items []putItem
	for _, w := range batch {
		for _, b := range w.bs {
			items = append(items, putItem{b: b, tentative: w.tentative})
		}
	}
	now := s.cfg.now().UnixNano()
	d, err := s.update(len(items), func(txn *badger.Txn, i int, d *delta) error {
		return s.putOne(txn, &items[i], now, d)
	})
	s.apply(d)
	for _, w := range batch {
		w.err = err
	}
}

// sync makes every write so far durable, when the config asks for it.
func (s *Store) sync(op string) error {
	if !s.cfg.SyncWrites {
		return nil
	}
	// Writes that land while the sync runs may go uncounted; the counter
	// only paces background syncs.
	s.unsynced.Store(0)
	// Block bytes first, then the index that points at them.
	if s.segs != nil {
		if err := s.segs.sync(); err != nil {
			return fmt.Errorf("storage: %s: %w", op, err)
		}
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("storage: %s: sync: %w", op, err)
	}
	return nil
}

// putItem is one block of a group commit. Its bytes are appended to a
// segment at most once, even when the transaction is run again after a
// conflict or cut in parts.
type putItem struct {
	b         block.Block
	tentative bool
	loc       location
	placed    bool
}

func (s *Store) putOne(txn *badger.Txn, it *putItem, now int64, d *delta) error {
	b, tentative := it.b, it.tentative
	st, err := readState(txn, b.CID)
	if err != nil {
		return err
	}
	tk := tentativeKey(b.CID)
	switch {
	case !st.exists && s.segs != nil:
		if !it.placed {
			if it.loc, err = s.segs.append(b.CID, b.Data); err != nil {
				return err
			}
			it.placed = true
		}
		if err := txn.Set(locationKey(b.CID), it.loc.encode()); err != nil {
			return err
		}
		d.addLive(it.loc.seg, int64(it.loc.n))
		fallthrough
	case !st.exists:
		if s.segs == nil {
			if err := txn.Set(blockKey(b.CID), b.Data); err != nil {
				return err
			}
		}
		if err := txn.Set(sizeKey(b.CID), encodeSize(len(b.Data))); err != nil {
			return err
		}
		if tentative {
			if err := txn.Set(tk, encodeTime(now)); err != nil {
				return err
			}
		} else if st.tentative { // a stray t/ key from outside the store
			if err := txn.Delete(tk); err != nil {
				return err
			}
		}
		d.blocks++
		d.bytes += int64(len(b.Data))
	case st.tentative && tentative:
		return txn.Set(tk, encodeTime(now))
	case st.tentative && !tentative:
		return txn.Delete(tk)
	}
	return nil
}

// verifyAll checks every block, hashing on all cores for a batch.
func (s *Store) verifyAll(ctx context.Context, bs []block.Block) error {
	if len(bs) == 1 {
		return s.verify(bs[0])
	}
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range min(runtime.GOMAXPROCS(0), len(bs)) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bs) {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("storage: put: %w", err)
				}
				if err := s.verify(bs[i]); err != nil {
					return err
				}
			}
		})
	}
	return g.Wait()
}

func (s *Store) verify(b block.Block) error {
	if len(b.Data) > block.MaxChunkSize {
		return fmt.Errorf("%w: %s has %d bytes, at most %d", ErrTooLarge, b.CID, len(b.Data), block.MaxChunkSize)
	}
	if err := block.Verify(b.CID, b.Data); err != nil {
		if errors.Is(err, block.ErrMismatch) {
			s.m.integrityFailures.Inc()
			s.log.Warn("refused a block whose bytes do not match its CID", "cid", b.CID, "size", len(b.Data))
		}
		return fmt.Errorf("storage: put: %w", err)
	}
	return nil
}

// Confirm marks blocks as part of an acknowledged blob, so GC keeps them,
// and (with SyncWrites) makes every write so far durable before it returns.
// It confirms every block it holds, and fails with ErrNotFound if any of
// cids is not held: a copy that is gone (abandoned by a failed put of the
// same bytes, collected, or dropped as corrupt) must not be counted as
// stored, so the putter places it again or fails.
func (s *Store) Confirm(ctx context.Context, cids []cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: confirm: %w", err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	missing := make([]bool, len(cids))
	_, err := s.update(len(cids), func(txn *badger.Txn, i int, _ *delta) error {
		missing[i] = false // a transaction rerun after a conflict reads again
		if !cids[i].Defined() {
			return nil
		}
		st, err := readState(txn, cids[i])
		switch {
		case err != nil:
			return err
		case !st.exists:
			missing[i] = true
			return nil
		case st.tentative:
			return txn.Delete(tentativeKey(cids[i]))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: confirm: %w", err)
	}
	// Always sync: the blocks being confirmed may have been written
	// tentatively, without a sync, even if no tentative mark changed here.
	if err := s.sync("confirm"); err != nil {
		return err
	}
	var gone []cid.Cid
	for i, m := range missing {
		if m {
			gone = append(gone, cids[i])
		}
	}
	if len(gone) > 0 {
		return fmt.Errorf("storage: confirm: %w: %d of %d blocks not held, the first %s", xnode.ErrNotFound, len(gone), len(cids), gone[0])
	}
	return nil
}

// Abandon deletes those of cids that are still tentative: copies written
// for a put that failed, so nothing of it stays stored. Confirmed blocks,
// and blocks not held, are left as they are. It returns how many it deleted.
//
// A put of the same bytes still in flight elsewhere may lose its tentative
// copy here; its Confirm then fails (see Confirm), and it places the block
// again or fails, so nothing acknowledged is lost.
func (s *Store) Abandon(ctx context.Context, cids []cid.Cid) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("storage: abandon: %w", err)
	}
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	d, err := s.update(len(cids), func(txn *badger.Txn, i int, d *delta) error {
		if !cids[i].Defined() {
			return nil
		}
		return dropTentative(txn, cids[i], math.MaxInt64, d)
	})
	s.apply(d)
	if err != nil {
		return int(-d.blocks), fmt.Errorf("storage: abandon: %w", err)
	}
	return int(-d.blocks), nil
}

// Get returns the block named c after checking its bytes against c. A stored
// copy that does not match, or that cannot be read back whole, is damaged:
// it is deleted, counted in xnode_storage_integrity_failures_total and
// xnode_storage_damaged_blocks_total, logged and reported to
// Config.OnDamage, and Get returns an error wrapping xnode.ErrIntegrity
// (block.ErrMismatch for wrong bytes): wrong bytes are never returned. A
// block not held gives ErrNotFound.
func (s *Store) Get(ctx context.Context, c cid.Cid) (block.Block, error) {
	if err := ctx.Err(); err != nil {
		return block.Block{}, fmt.Errorf("storage: get: %w", err)
	}
	if err := block.Check(c); err != nil {
		return block.Block{}, fmt.Errorf("storage: get: %w", err)
	}
	if err := s.acquire(); err != nil {
		return block.Block{}, err
	}
	defer s.release()
	data, err := s.get(c, false)
	if err != nil {
		return block.Block{}, err
	}
	return block.Block{CID: c, Data: data}, nil
}

// copyRef is where the copy of a block that a read found lives: the index
// key that holds its bytes (b/) or their location (l/), and that key's
// version, so that a damaged copy is deleted only if it is still the one
// read.
type copyRef struct {
	key       []byte
	version   uint64
	loc       location
	inSegment bool
	tentative bool // set once found damaged
}

// get reads c and checks it (see Get). forget drops the pages read from the
// page cache (the verification pass). Callers hold ops.
func (s *Store) get(c cid.Cid, forget bool) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		var (
			ref  copyRef
			data []byte
			rerr error // the copy is there but unreadable
		)
		err := s.db.View(func(txn *badger.Txn) error {
			// Inline bytes first: an InMemory store's, and those of blocks
			// written before segment files.
			item, err := txn.Get(blockKey(c))
			switch {
			case err == nil:
				ref.key, ref.version = blockKey(c), item.Version()
				data, rerr = item.ValueCopy(nil)
				return nil
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			item, err = txn.Get(locationKey(c))
			if err != nil {
				return err
			}
			ref.key, ref.version, ref.inSegment = locationKey(c), item.Version(), true
			return item.Value(func(v []byte) (err error) {
				ref.loc, err = decodeLocation(v)
				if err != nil {
					rerr, err = err, nil
				}
				return err
			})
		})
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil, fmt.Errorf("%w: %s", ErrNotFound, c)
		case err != nil:
			return nil, fmt.Errorf("storage: get %s: %w", c, err)
		}
		if ref.inSegment && rerr == nil {
			data, rerr = s.segs.read(ref.loc, forget)
			if errors.Is(rerr, errSegmentGone) && attempt == 0 {
				continue // compaction moved it since the lookup
			}
			if forget {
				s.segs.forget(ref.loc)
			}
		}
		if rerr != nil {
			s.damaged(c, ref, len(data), rerr)
			return nil, fmt.Errorf("storage: get %s: %w: stored copy unreadable: %v", c, xnode.ErrIntegrity, rerr)
		}
		if verr := block.Verify(c, data); verr != nil {
			s.damaged(c, ref, len(data), verr)
			return nil, fmt.Errorf("storage: get: %w", verr)
		}
		return data, nil
	}
}

// damaged handles a stored copy of c found damaged: it counts, drops and
// logs it, and reports it to Config.OnDamage.
func (s *Store) damaged(c cid.Cid, ref copyRef, size int, cause error) {
	_ = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(tentativeKey(c))
		ref.tentative = err == nil
		return nil
	})
	s.m.integrityFailures.Inc()
	s.m.damaged.Inc()
	derr := s.dropCorrupt(c, ref)
	s.log.Error("dropped a damaged stored block", "cid", c, "size", size, "cause", cause, "drop_err", derr)
	if s.cfg.OnDamage != nil && derr == nil {
		s.cfg.OnDamage(Damage{CID: c, Tentative: ref.tentative, Cause: cause})
	}
}

// dropCorrupt deletes the copy of c that ref names, unless it has been
// replaced since (then the new copy is someone else's to judge).
func (s *Store) dropCorrupt(c cid.Cid, ref copyRef) error {
	d, err := s.update(1, func(txn *badger.Txn, _ int, d *delta) error {
		item, err := txn.Get(ref.key)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return nil
		case err != nil:
			return err
		case item.Version() != ref.version:
			return nil
		}
		return deleteOne(txn, c, d)
	})
	s.apply(d)
	return err
}

// Has reports whether the store holds c. It reads only the index.
func (s *Store) Has(ctx context.Context, c cid.Cid) (bool, error) {
	has, err := s.HasMany(ctx, []cid.Cid{c})
	if err != nil {
		return false, err
	}
	return has[0], nil
}

// HasMany reports for each CID whether the store holds it, from one snapshot.
// A CID that is not an xnode block CID fails the call (block.ErrInvalidCID).
func (s *Store) HasMany(ctx context.Context, cs []cid.Cid) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("storage: has: %w", err)
	}
	for _, c := range cs {
		if err := block.Check(c); err != nil {
			return nil, fmt.Errorf("storage: has: %w", err)
		}
	}
	if err := s.acquire(); err != nil {
		return nil, err
	}
	defer s.release()
	has := make([]bool, len(cs))
	err := s.db.View(func(txn *badger.Txn) error {
		for i, c := range cs {
			switch _, err := txn.Get(sizeKey(c)); {
			case err == nil:
				has[i] = true
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("storage: has: %w", err)
	}
	return has, nil
}

// Size returns the size of block c in bytes from the index, without reading
// the block. A block not held gives ErrNotFound.
func (s *Store) Size(ctx context.Context, c cid.Cid) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("storage: size: %w", err)
	}
	if err := block.Check(c); err != nil {
		return 0, fmt.Errorf("storage: size: %w", err)
	}
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	var n int
	err := s.db.View(func(txn *badger.Txn) error {
		st, err := readState(txn, c)
		if err != nil {
			return err
		}
		if !st.exists {
			return fmt.Errorf("%w: %s", ErrNotFound, c)
		}
		n = st.size
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("storage: size %s: %w", c, err)
	}
	return n, nil
}

// Delete removes block c. A block not held is not an error.
func (s *Store) Delete(ctx context.Context, c cid.Cid) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("storage: delete: %w", err)
	}
	if err := block.Check(c); err != nil {
		return fmt.Errorf("storage: delete: %w", err)
	}
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	d, err := s.update(1, func(txn *badger.Txn, _ int, d *delta) error {
		return deleteOne(txn, c, d)
	})
	s.apply(d)
	if err != nil {
		return fmt.Errorf("storage: delete %s: %w", c, err)
	}
	return nil
}

// deleteOne removes all three keys of c, if it is held.
func deleteOne(txn *badger.Txn, c cid.Cid, d *delta) error {
	st, err := readState(txn, c)
	if err != nil || !st.exists {
		return err
	}
	return deleteHeld(txn, c, st, d)
}

// dropTentative deletes c if it is tentative since cutoff (unix nanoseconds)
// or before, reading its state in txn so that a Confirm or a fresh tentative
// put committed meanwhile wins. A tentative mark with no block is dropped.
// GC and Abandon both delete through it.
func dropTentative(txn *badger.Txn, c cid.Cid, cutoff int64, d *delta) error {
	st, err := readState(txn, c)
	switch {
	case err != nil:
		return err
	case !st.tentative || st.since > cutoff:
		return nil
	case !st.exists:
		return txn.Delete(tentativeKey(c))
	}
	return deleteHeld(txn, c, st, d)
}

// deleteHeld removes the keys of c, held with state st.
func deleteHeld(txn *badger.Txn, c cid.Cid, st blockState, d *delta) error {
	for _, k := range [][]byte{blockKey(c), locationKey(c), sizeKey(c), tentativeKey(c)} {
		if err := txn.Delete(k); err != nil {
			return err
		}
	}
	if st.located {
		d.addLive(st.loc.seg, -int64(st.loc.n))
	}
	d.blocks--
	d.bytes -= int64(st.size)
	return nil
}

// forEachPage is how many index entries ForEach reads per transaction. It
// calls fn between transactions, so a slow fn (repair pushes blocks over the
// network) never holds a badger read transaction open, which would pin old
// versions and stall value-log GC.
const forEachPage = 1024

// ForEach calls fn for every block in the local index, in key (CID byte)
// order, reading keys and sizes only. It stops at and returns the first error
// fn returns. Blocks added or removed while it runs may or may not be seen.
func (s *Store) ForEach(ctx context.Context, fn func(c cid.Cid, size int) error) error {
	type entry struct {
		c    cid.Cid
		size int
	}
	seek := prefixSize
	for seek != nil {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("storage: for each: %w", err)
		}
		if err := s.acquire(); err != nil {
			return err
		}
		var page []entry
		var next []byte
		err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixSize})
			defer it.Close()
			for it.Seek(seek); it.Valid(); it.Next() {
				item := it.Item()
				if len(page) == forEachPage {
					next = item.KeyCopy(nil)
					return nil
				}
				c, err := cidOf(item.Key())
				if err != nil {
					s.log.Warn("skipping a malformed index key", "err", err)
					continue
				}
				var size int
				if err := item.Value(func(v []byte) (err error) {
					size, err = decodeSize(v)
					return err
				}); err != nil {
					s.log.Warn("skipping a malformed index entry", "cid", c, "err", err)
					continue
				}
				page = append(page, entry{c, size})
			}
			return nil
		})
		s.release()
		if err != nil {
			return fmt.Errorf("storage: for each: %w", err)
		}
		for _, e := range page {
			if err := fn(e.c, e.size); err != nil {
				return err
			}
		}
		seek = next
	}
	return nil
}

// recount sets the usage counters from the index.
func (s *Store) recount() error {
	var blocks, bytes int64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixSize})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := it.Item().Value(func(v []byte) error {
				n, err := decodeSize(v)
				if err != nil {
					return fmt.Errorf("key %x: %w", it.Item().Key(), err)
				}
				blocks++
				bytes += int64(n)
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: recount usage: %w", err)
	}
	s.blocks.Store(blocks)
	s.bytes.Store(bytes)
	if s.segs == nil {
		return nil
	}
	live := make(map[uint32]int64)
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixLocation})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			_ = it.Item().Value(func(v []byte) error {
				if l, err := decodeLocation(v); err == nil {
					live[l.seg] += int64(l.n)
				}
				return nil // a malformed one is found damaged when read
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: recount segments: %w", err)
	}
	for _, sg := range s.segs.list() {
		sg.live.Store(live[sg.id])
	}
	return nil
}

// blockState is what the index says about one CID.
type blockState struct {
	exists    bool
	size      int
	tentative bool
	since     int64 // unix nanos, when tentative
	loc       location
	located   bool // loc is set: the bytes are in a segment
}

func readState(txn *badger.Txn, c cid.Cid) (blockState, error) {
	var st blockState
	item, err := txn.Get(sizeKey(c))
	switch {
	case err == nil:
		st.exists = true
		if err := item.Value(func(v []byte) (err error) {
			st.size, err = decodeSize(v)
			return err
		}); err != nil {
			return st, err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return st, err
	}
	item, err = txn.Get(tentativeKey(c))
	switch {
	case err == nil:
		st.tentative = true
		if err := item.Value(func(v []byte) error {
			// An unreadable age counts as the oldest: the block was never
			// confirmed either way, and GC must not trip on it forever.
			st.since, _ = decodeTime(v)
			return nil
		}); err != nil {
			return st, err
		}
	case !errors.Is(err, badger.ErrKeyNotFound):
		return st, err
	}
	if !st.exists {
		return st, nil
	}
	item, err = txn.Get(locationKey(c))
	switch {
	case err == nil:
		// A malformed location leaves located false: Get finds it damaged.
		_ = item.Value(func(v []byte) error {
			if l, err := decodeLocation(v); err == nil {
				st.loc, st.located = l, true
			}
			return nil
		})
	case !errors.Is(err, badger.ErrKeyNotFound):
		return st, err
	}
	return st, nil
}

// delta is what committed transactions changed in the usage counters and
// in the live bytes of segments.
type delta struct {
	blocks, bytes int64
	live          map[uint32]int64
}

func (d *delta) addLive(seg uint32, n int64) {
	if d.live == nil {
		d.live = make(map[uint32]int64)
	}
	d.live[seg] += n
}

func (d *delta) add(o delta) {
	d.blocks += o.blocks
	d.bytes += o.bytes
	for seg, n := range o.live {
		d.addLive(seg, n)
	}
}

func (s *Store) apply(d delta) {
	s.blocks.Add(d.blocks)
	s.bytes.Add(d.bytes)
	if s.segs == nil {
		return
	}
	for seg, n := range d.live {
		if sg := s.segs.get(seg); sg != nil {
			sg.live.Add(n)
		}
	}
}

// maxConflictRetries bounds how often update retries a transaction that lost
// a race with another writer of the same keys. Each retry re-reads the state,
// so one retry nearly always settles it.
const maxConflictRetries = 16

// update applies op to items 0..n-1 in as few read-write transactions as
// badger accepts (one, unless the transaction grows too big, when it is cut
// and committed in parts). A transaction that conflicts is rerun from its
// first item. It returns what the committed transactions changed, also on
// error, so the caller can apply it to the counters.
func (s *Store) update(n int, op func(txn *badger.Txn, i int, d *delta) error) (delta, error) {
	var total delta
	start, end, conflicts := 0, n, 0
	for start < n {
		txn := s.db.NewTransaction(true)
		var d delta
		i := start
		var err error
		for i < end {
			if err = op(txn, i, &d); err != nil {
				break
			}
			i++
		}
		if err != nil {
			txn.Discard()
			if errors.Is(err, badger.ErrTxnTooBig) && i > start {
				end = i // redo the items that fitted, then go on from i
				continue
			}
			return total, err
		}
		if err := txn.Commit(); err != nil {
			if errors.Is(err, badger.ErrConflict) && conflicts < maxConflictRetries {
				conflicts++
				continue
			}
			return total, err
		}
		total.add(d)
		start, end, conflicts = end, n, 0
	}
	return total, nil
}

// Tentative reports whether c is held as a tentative (unconfirmed) block: a
// copy written by an upload that has not been acknowledged, or never will be.
// A block not held at all is not tentative.
func (s *Store) Tentative(ctx context.Context, c cid.Cid) (bool, error) {
	if err := block.Check(c); err != nil {
		return false, err
	}
	if err := s.acquire(); err != nil {
		return false, err
	}
	defer s.release()
	var st blockState
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		st, err = readState(txn, c)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("storage: tentative: %w", err)
	}
	return st.exists && st.tentative, nil
}
