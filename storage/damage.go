package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
)

// Damage is a stored copy found damaged and dropped (see Config.OnDamage).
type Damage struct {
	// CID names the block; the store no longer holds it.
	CID cid.Cid
	// Tentative: the copy had not been confirmed (an upload in progress,
	// or the orphan of one), so no acknowledgement rested on it.
	Tentative bool
	// Cause says what was wrong: block.ErrMismatch for wrong bytes, or the
	// read error of a copy that could not be read back whole.
	Cause error
}

// VerifyResult is what one verification pass found.
type VerifyResult struct {
	Checked int           // blocks read and checked
	Damaged int           // of them, found damaged and dropped
	Bytes   int64         // bytes read
	Took    time.Duration // how long the pass took
}

// VerifyAll reads every stored block once and checks it against its CID,
// as Get does: a damaged copy is dropped, counted, logged and reported to
// Config.OnDamage. Pages it reads leave the page cache again. Blocks added
// or removed while it runs may or may not be checked. Start runs it once
// when Config.VerifyOnStart is set.
func (s *Store) VerifyAll(ctx context.Context) (VerifyResult, error) {
	start := time.Now()
	var res VerifyResult
	err := s.ForEach(ctx, func(c cid.Cid, size int) error {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("storage: verify: %w", err)
		}
		if err := s.acquire(); err != nil {
			return err
		}
		_, err := s.get(c, true)
		s.release()
		switch {
		case err == nil:
			res.Checked++
			res.Bytes += int64(size)
		case errors.Is(err, xnode.ErrIntegrity):
			res.Checked++
			res.Damaged++
		case errors.Is(err, ErrNotFound): // deleted meanwhile
		default:
			return fmt.Errorf("storage: verify %s: %w", c, err)
		}
		return nil
	})
	res.Took = time.Since(start)
	return res, err
}

// verifyOnStart is the pass Start runs (Config.VerifyOnStart).
func (s *Store) verifyOnStart(ctx context.Context) {
	res, err := s.VerifyAll(ctx)
	switch {
	case err != nil && ctx.Err() == nil && !errors.Is(err, ErrClosed):
		s.log.Warn("verification of the stored blocks failed", "err", err, "checked", res.Checked, "damaged", res.Damaged)
	case res.Damaged > 0:
		s.log.Warn("verified the stored blocks: some were damaged and dropped", "checked", res.Checked, "damaged", res.Damaged, "bytes", res.Bytes, "took", res.Took)
	case err == nil:
		s.log.Info("verified the stored blocks", "checked", res.Checked, "bytes", res.Bytes, "took", res.Took)
	}
}

// isDamage reports whether err is Get's answer for a damaged copy.
func isDamage(err error) bool { return errors.Is(err, xnode.ErrIntegrity) }

// Locate returns where block c's bytes are on disk: the segment file, the
// offset of the data in it, and its length. It is for tests and tools (one
// that flips a stored byte to test integrity checks). A block stored inline
// in badger (InMemory, or written before segment files) has no location of
// its own and gives ErrNotFound.
func (s *Store) Locate(ctx context.Context, c cid.Cid) (path string, off int64, n int, err error) {
	if err := ctx.Err(); err != nil {
		return "", 0, 0, fmt.Errorf("storage: locate: %w", err)
	}
	if err := s.acquire(); err != nil {
		return "", 0, 0, err
	}
	defer s.release()
	if s.segs == nil {
		return "", 0, 0, fmt.Errorf("%w: %s: in memory", ErrNotFound, c)
	}
	var st blockState
	if err := s.db.View(func(txn *badger.Txn) (err error) {
		st, err = readState(txn, c)
		return err
	}); err != nil {
		return "", 0, 0, fmt.Errorf("storage: locate %s: %w", c, err)
	}
	if !st.located {
		return "", 0, 0, fmt.Errorf("%w: %s", ErrNotFound, c)
	}
	return s.segs.path(st.loc.seg), st.loc.off, st.loc.n, nil
}
