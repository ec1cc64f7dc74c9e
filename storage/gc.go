package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
)

// GCResult is what one GC pass removed.
type GCResult struct {
	Removed int   // tentative blocks removed as orphans
	Bytes   int64 // their bytes
}

const (
	// gcPage is how many tentative keys GC reads per transaction.
	gcPage = 1024
	// vlogDiscardRatio: rewrite a value-log file once at least half of it
	// is garbage (deleted or overwritten blocks). Lower ratios copy more
	// live data to reclaim less.
	vlogDiscardRatio = 0.5
	// maxVlogRewrites bounds the value-log files one GC pass rewrites, so a
	// pass (and Close, which waits for it) stays short.
	maxVlogRewrites = 8
)

// GC removes tentative blocks older than Config.TentativeGrace (the orphans of
// aborted uploads), then compacts segments (see compact) and lets badger
// reclaim value-log space. It is safe to
// call concurrently with everything else; a block confirmed while GC runs is
// kept.
func (s *Store) GC(ctx context.Context) (GCResult, error) {
	if err := s.acquire(); err != nil {
		return GCResult{}, err
	}
	defer s.release()
	var res GCResult
	cutoff := s.cfg.now().Add(-s.cfg.TentativeGrace).UnixNano()
	seek := prefixTentative
	for seek != nil {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("storage: gc: %w", err)
		}
		expired, next, err := s.expiredPage(seek, cutoff)
		if err != nil {
			return res, fmt.Errorf("storage: gc: %w", err)
		}
		seek = next
		if len(expired) == 0 {
			continue
		}
		// Re-read each block's state in the deleting transaction: a Confirm
		// or a fresh tentative Put since the scan must win.
		d, err := s.update(len(expired), func(txn *badger.Txn, i int, d *delta) error {
			return dropTentative(txn, expired[i], cutoff, d)
		})
		s.apply(d)
		res.Removed += int(-d.blocks)
		res.Bytes += -d.bytes
		s.m.gcRemoved.Add(float64(-d.blocks))
		if err != nil {
			return res, fmt.Errorf("storage: gc: %w", err)
		}
	}
	if res.Removed > 0 {
		s.log.Info("removed orphaned tentative blocks", "blocks", res.Removed, "bytes", res.Bytes)
	}
	if s.cfg.InMemory {
		return res, nil
	}
	if err := s.compact(ctx); err != nil {
		return res, err
	}
	// Blocks written before segment files still live in badger's value
	// log, as may a large value of the index; badger reclaims it.
	for range maxVlogRewrites {
		if ctx.Err() != nil {
			break
		}
		err := s.db.RunValueLogGC(vlogDiscardRatio)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			break
		}
		if err != nil {
			return res, fmt.Errorf("storage: value log gc: %w", err)
		}
	}
	return res, nil
}

// expiredPage scans up to gcPage tentative keys from seek and returns the
// CIDs tentative since cutoff or before, and the key to resume from (nil at
// the end).
func (s *Store) expiredPage(seek []byte, cutoff int64) (expired []cid.Cid, next []byte, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixTentative})
		defer it.Close()
		n := 0
		for it.Seek(seek); it.Valid(); it.Next() {
			item := it.Item()
			if n == gcPage {
				next = item.KeyCopy(nil)
				return nil
			}
			n++
			c, err := cidOf(item.Key())
			if err != nil {
				s.log.Warn("skipping a malformed tentative key", "err", err)
				continue
			}
			var since int64
			if err := item.Value(func(v []byte) (err error) {
				since, err = decodeTime(v)
				return err
			}); err != nil {
				// Unreadable age: treat as expired, the block was never
				// confirmed either way.
				s.log.Warn("malformed tentative record", "cid", c, "err", err)
				since = cutoff
			}
			if since <= cutoff {
				expired = append(expired, c)
			}
		}
		return nil
	})
	return expired, next, err
}

// releaseInterval is how often the loop hands mapped value-log pages back
// (see releaseMappedPages): soon enough that a node idle after a burst of
// transfers shows its real footprint, rarely enough that the moment of
// exclusive access it takes does not matter.
const releaseInterval = 30 * time.Second

// gcLoop runs GC every Config.GCInterval, and releases mapped value-log pages
// every releaseInterval, until ctx ends.
func (s *Store) gcLoop(ctx context.Context) {
	defer s.wg.Done()
	gcTick := time.NewTicker(s.cfg.GCInterval)
	defer gcTick.Stop()
	releaseTick := time.NewTicker(min(releaseInterval, s.cfg.GCInterval))
	defer releaseTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-gcTick.C:
			if _, err := s.GC(ctx); err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("block store gc failed", "err", err)
			}
		case <-s.syncSoon:
			if err := s.backgroundSync(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Warn("background sync failed", "err", err)
			}
		case <-releaseTick.C:
			if _, err := s.releaseMappedPages(); err != nil && !errors.Is(err, ErrClosed) {
				s.log.Debug("releasing value-log pages failed", "err", err)
			}
		}
	}
}

// backgroundSync is a sync no caller waits for (see Config.WriteBehind),
// followed by dropping the synced pages of segments (Config.DropWritten)
// when enough has been written since the last drop. Segments are written
// with pwrite, never through a map, so their pages write back without the
// TLB shootdowns a mapped value log cost; pages that reads mapped are
// unmapped first (releaseMappedPages), since the kernel drops only unmapped
// pages.
func (s *Store) backgroundSync() error {
	needSync := s.unsynced.Load() >= s.cfg.WriteBehind // else a sync since the ask (an upload's Confirm) covered it
	needDrop := s.dropWritten && s.undropped.Load() >= s.cfg.WriteBehind
	if !needSync && !needDrop {
		return nil
	}
	var heads map[uint32]int64
	if needDrop {
		s.undropped.Store(0)
		heads = s.segs.dropHeads()
	}
	// The kernel drops only pages no one maps: unmap what reads mapped.
	if _, err := s.releaseMappedPages(); err != nil {
		return err
	}
	// A drop pass syncs too, so that every page it drops is clean: the
	// kernel keeps dirty ones.
	if err := s.syncBehind(); err != nil {
		return err
	}
	if needDrop {
		n, err := s.dropSegments(heads)
		s.m.droppedBytes.Add(float64(n))
		if err != nil {
			return fmt.Errorf("storage: drop written pages: %w", err)
		}
	}
	return nil
}

func (s *Store) syncBehind() error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	s.m.backgroundSyncs.Inc()
	return s.sync("background")
}

// dropSegments drops the synced pages of segments up to heads (see
// Config.DropWritten).
func (s *Store) dropSegments(heads map[uint32]int64) (int64, error) {
	if err := s.acquire(); err != nil {
		return 0, err
	}
	defer s.release()
	return s.segs.dropWritten(heads)
}
