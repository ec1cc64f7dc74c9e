package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
)

// The 64 MiB benchmarks compare the Store with raw badger (the same options,
// one fsync per acknowledged batch in both) on the same 64 one-MiB chunks, so the Store's cost
// (hashing every block in and out, the index keys, conflict checks) shows as
// the ratio of the two.

const (
	benchChunks = 64
	benchChunk  = block.DefaultChunkSize
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(DefaultConfig(b.TempDir()), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchRaw opens a bare badger with the Store's options.
func benchRaw(b *testing.B) *badger.DB {
	b.Helper()
	cfg := DefaultConfig(b.TempDir())
	db, err := badger.Open(cfg.badgerOptions(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func benchBlocks(b *testing.B) []block.Block {
	b.Helper()
	bs := make([]block.Block, benchChunks)
	for i := range bs {
		bs[i] = randBlock(b, benchChunk)
	}
	return bs
}

func BenchmarkPut1MiB(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	data := make([]byte, benchChunk)
	rand.Read(data)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		binary.LittleEndian.PutUint64(data, uint64(i)) // a new block each time
		blk := block.NewRaw(data)
		b.StartTimer()
		if err := s.Put(ctx, blk, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawBadgerTxnPut1MiB(b *testing.B) {
	db := benchRaw(b)
	data := make([]byte, benchChunk)
	rand.Read(data)
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		binary.LittleEndian.PutUint64(data, uint64(i))
		blk := block.NewRaw(data)
		b.StartTimer()
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set(blockKey(blk.CID), blk.Data) }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet1MiB(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	bs := benchBlocks(b)
	if err := s.PutMany(ctx, bs, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Get(ctx, bs[i%len(bs)].CID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawBadgerBatchWrite64MiB(b *testing.B) {
	db := benchRaw(b)
	bs := benchBlocks(b)
	b.SetBytes(benchChunks * benchChunk)
	b.ResetTimer()
	for b.Loop() {
		wb := db.NewWriteBatch()
		for _, blk := range bs {
			if err := wb.Set(blockKey(blk.CID), blk.Data); err != nil {
				b.Fatal(err)
			}
		}
		if err := wb.Flush(); err != nil {
			b.Fatal(err)
		}
		// One fsync for the batch, as the Store makes one when it confirms.
		if err := db.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}

// forgetAll deletes the blocks outside the timer, so that the next
// iteration's Puts store them anew instead of finding them present.
func forgetAll(b *testing.B, s *Store, bs []block.Block) {
	b.StopTimer()
	defer b.StartTimer()
	for _, blk := range bs {
		if err := s.Delete(context.Background(), blk.CID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStorePut64MiB(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	bs := benchBlocks(b)
	b.SetBytes(benchChunks * benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		forgetAll(b, s, bs)
		if err := s.PutMany(ctx, bs, true); err != nil {
			b.Fatal(err)
		}
		if err := s.Confirm(ctx, cidsOf(bs)); err != nil {
			b.Fatal(err)
		}
	}
}

func cidsOf(bs []block.Block) []cid.Cid {
	out := make([]cid.Cid, len(bs))
	for i, b := range bs {
		out[i] = b.CID
	}
	return out
}

// BenchmarkStorePut64MiBConcurrent puts the chunks one by one from 8
// goroutines, as the overlay does when chunks arrive on parallel streams,
// then confirms them (the one fsync of an acknowledged upload).
func BenchmarkStorePut64MiBConcurrent(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	bs := benchBlocks(b)
	b.SetBytes(benchChunks * benchChunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		forgetAll(b, s, bs)
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := next.Add(1) - 1; j < int64(len(bs)); j = next.Add(1) - 1 {
					if err := s.Put(ctx, bs[j], true); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := s.Confirm(ctx, cidsOf(bs)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRawBadgerRead64MiB(b *testing.B) {
	db := benchRaw(b)
	bs := benchBlocks(b)
	wb := db.NewWriteBatch()
	for _, blk := range bs {
		if err := wb.Set(blockKey(blk.CID), blk.Data); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchChunks * benchChunk)
	b.ResetTimer()
	for b.Loop() {
		if err := db.View(func(txn *badger.Txn) error {
			for _, blk := range bs {
				item, err := txn.Get(blockKey(blk.CID))
				if err != nil {
					return err
				}
				// A copy, as any user that keeps the bytes past the
				// transaction needs (the Store's Get does the same).
				if _, err := item.ValueCopy(nil); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreGet64MiB(b *testing.B) {
	ctx := context.Background()
	s := benchStore(b)
	bs := benchBlocks(b)
	if err := s.PutMany(ctx, bs, false); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(benchChunks * benchChunk)
	b.ResetTimer()
	for b.Loop() {
		for _, blk := range bs {
			if _, err := s.Get(ctx, blk.CID); err != nil {
				b.Fatal(err)
			}
		}
	}
}
