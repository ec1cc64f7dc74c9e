package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
)

const (
	// compactLiveRatio: rewrite a sealed segment once less than half of it
	// holds live blocks (the rest is deleted blocks, and records whose
	// index entry never committed). Lower ratios copy more live data to
	// reclaim less.
	compactLiveRatio = 0.5
	// maxCompactions bounds the segments one GC pass rewrites, so a pass
	// (and Close, which waits for it) stays short.
	maxCompactions = 8
)

// compact reclaims the space of deleted blocks: it rewrites the live blocks
// of mostly dead sealed segments into the segment being written, points the
// index at the new copies, makes both durable, and removes the old files.
// Every block is checked against its CID on the way: a damaged one is
// dropped and reported like any damaged read, never copied. The caller holds
// ops.
func (s *Store) compact(ctx context.Context) error {
	if s.segs == nil {
		return nil
	}
	cur := s.segs.current()
	victims := make(map[uint32]bool)
	for _, sg := range s.segs.list() {
		if sg.id == cur {
			continue
		}
		size, live := sg.size.Load(), sg.live.Load()
		if live <= 0 || float64(live) < compactLiveRatio*float64(size) {
			victims[sg.id] = true
		}
		if len(victims) == maxCompactions {
			break
		}
	}
	if len(victims) == 0 {
		return nil
	}
	type entry struct {
		c   cid.Cid
		loc location
	}
	moves := make(map[uint32][]entry)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixLocation})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var l location
			if err := it.Item().Value(func(v []byte) (err error) {
				l, err = decodeLocation(v)
				return err
			}); err != nil || !victims[l.seg] {
				continue
			}
			c, err := cidOf(it.Item().Key())
			if err != nil {
				continue
			}
			moves[l.seg] = append(moves[l.seg], entry{c, l})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("storage: compact: %w", err)
	}
	ids := make([]uint32, 0, len(victims))
	for id := range victims {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, e := range moves[id] {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("storage: compact: %w", err)
			}
			if err := s.move(e.c, e.loc); err != nil {
				return fmt.Errorf("storage: compact segment %d: %w", id, err)
			}
		}
		// The new copies and the index pointing at them must be on disk
		// before the old ones go.
		if err := s.sync("compact"); err != nil {
			return err
		}
		if err := s.segs.remove(id); err != nil {
			return fmt.Errorf("storage: compact: remove segment %d: %w", id, err)
		}
		s.m.compacted.Inc()
		s.log.Debug("compacted a segment", "segment", id, "moved", len(moves[id]))
	}
	return nil
}

// move copies block c from old into the segment being written and points
// the index at the copy, unless the index no longer points at old (the block
// was deleted or stored again meanwhile).
func (s *Store) move(c cid.Cid, old location) error {
	data, err := s.segs.read(old, true)
	if err == nil {
		err = block.Verify(c, data)
	}
	if err != nil {
		// Read it as Get does, which drops and reports a damaged copy.
		if _, gerr := s.get(c, true); gerr != nil && !errors.Is(gerr, ErrNotFound) && !isDamage(gerr) {
			return gerr
		}
		return nil
	}
	loc, err := s.segs.append(c, data)
	if err != nil {
		return err
	}
	d, err := s.update(1, func(txn *badger.Txn, _ int, d *delta) error {
		item, err := txn.Get(locationKey(c))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var now location
		if err := item.Value(func(v []byte) (err error) {
			now, err = decodeLocation(v)
			return err
		}); err != nil || now != old {
			return nil
		}
		if err := txn.Set(locationKey(c), loc.encode()); err != nil {
			return err
		}
		d.addLive(old.seg, -int64(old.n))
		d.addLive(loc.seg, int64(loc.n))
		return nil
	})
	s.apply(d)
	return err
}
