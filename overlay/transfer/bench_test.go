package transfer

import (
	"context"
	"crypto/rand"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/xnode/xnode/block"
)

// The three benchmarks move 64 MiB between two loopback hosts built the same
// way (libp2p defaults: TCP, its default security and yamux), so their MB/s
// compare the protocol with a bare stream copy:
//
//	go test -run '^$' -bench 64MiB -count 5 ./overlay/transfer/
const (
	benchBlockSize = 1 << 20
	benchBlocks    = 64
	benchInFlight  = 8
)

func BenchmarkRawStreamCopy64MiB(b *testing.B) {
	src, dst := newHost(b), newHost(b)
	connect(b, src, dst)
	const proto = protocol.ID("/xnode/bench/raw/1")
	dst.SetStreamHandler(proto, func(st network.Stream) {
		if _, err := io.Copy(io.Discard, st); err != nil {
			_ = st.Reset()
			return
		}
		_, _ = st.Write([]byte{1})
		_ = st.Close()
	})
	buf := make([]byte, benchBlockSize)
	rand.Read(buf)
	ctx := context.Background()
	b.SetBytes(benchBlockSize * benchBlocks)
	b.ResetTimer()
	for b.Loop() {
		st, err := src.NewStream(ctx, dst.ID(), proto)
		if err != nil {
			b.Fatal(err)
		}
		for range benchBlocks {
			if _, err := st.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.CloseWrite(); err != nil {
			b.Fatal(err)
		}
		var ack [1]byte
		if _, err := io.ReadFull(st, ack[:]); err != nil {
			b.Fatal(err)
		}
		_ = st.Close()
	}
}

func benchBlocksSet(b *testing.B) []block.Block {
	out := make([]block.Block, benchBlocks)
	for i := range out {
		out[i] = randomBlock(b, benchBlockSize)
	}
	return out
}

// inFlight runs f for every index in [0, n) on k workers.
func inFlight(n, k int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first error
	var once sync.Once
	for range k {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func BenchmarkPutBlocks64MiB(b *testing.B) {
	a, c := newNode(b, DefaultConfig()), newNode(b, DefaultConfig())
	connect(b, a.h, c.h)
	c.store.trusting = true // the protocol's own verification still runs
	blocks := benchBlocksSet(b)
	ctx := context.Background()
	b.SetBytes(benchBlockSize * benchBlocks)
	b.ResetTimer()
	for b.Loop() {
		err := inFlight(len(blocks), benchInFlight, func(i int) error {
			return a.svc.PutBlock(ctx, c.h.ID(), blocks[i], false)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetBlocks64MiB(b *testing.B) {
	a, c := newNode(b, DefaultConfig()), newNode(b, DefaultConfig())
	connect(b, a.h, c.h)
	blocks := benchBlocksSet(b)
	ctx := context.Background()
	for _, blk := range blocks {
		if err := c.store.Put(ctx, blk, false); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(benchBlockSize * benchBlocks)
	b.ResetTimer()
	for b.Loop() {
		err := inFlight(len(blocks), benchInFlight, func(i int) error {
			_, err := a.svc.GetBlock(ctx, c.h.ID(), blocks[i].CID)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
