package overlay_test

import (
	"bytes"
	"context"
	"io"
	"sync/atomic"
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/localnet"
)

const sinkProtocol = "/xnode-bench/sink/1.0.0"

// blobSeq numbers the blobs the replicated benchmark puts (see freshBlob).
var blobSeq atomic.Int64

// BenchmarkReplicatedPut64MiB puts a 64 MiB blob through node 0's API on 4
// nodes with R=3 ("put" reports goodput: blob bytes per second), and copies
// 64 MiB over one raw libp2p stream between node 0 and node 1 of the same
// network ("raw-stream"). The target compares put goodput with raw/R;
// "alternating" does one of each per iteration and reports that ratio.
func BenchmarkReplicatedPut64MiB(b *testing.B) {
	params := abci.DefaultParams()
	nodes := localnet.StartInProcess(b, 4, localnet.InProcessOptions{Params: &params, Validators: 1, Durable: true})
	c, err := api.NewClient(nodes[0].APIURL(), nil)
	if err != nil {
		b.Fatal(err)
	}
	buf := randomBytes(blob64)
	ctx := context.Background()

	src, dst := nodes[0].Host(), nodes[1].Host()
	done := make(chan int64, 1)
	dst.SetStreamHandler(sinkProtocol, func(s network.Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Close()
		done <- n
	})
	defer dst.RemoveStreamHandler(sinkProtocol)
	if err := src.Connect(ctx, peer.AddrInfo{ID: dst.ID(), Addrs: dst.Addrs()}); err != nil {
		b.Fatal(err)
	}
	// Each put writes bytes no earlier put in this process wrote: the network
	// outlives the sub-benchmarks, which -count runs again, and a repeated
	// blob would be deduplicated instead of stored.
	put := func() {
		if _, err := c.PutSize(ctx, bytes.NewReader(freshBlob(buf, int(blobSeq.Add(1)))), blob64); err != nil {
			b.Fatal(err)
		}
	}
	rawStream := func() {
		s, err := src.NewStream(ctx, dst.ID(), sinkProtocol)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
		s.CloseWrite()
		if n := <-done; n != blob64 {
			b.Fatalf("sink got %d bytes", n)
		}
		s.Close()
	}

	b.Run("put", func(b *testing.B) {
		b.SetBytes(blob64)
		cpu := processCPU()
		for i := 0; i < b.N; i++ {
			put()
		}
		reportCPU(b, cpu)
	})
	b.Run("raw-stream", func(b *testing.B) {
		b.SetBytes(blob64)
		cpu := processCPU()
		for i := 0; i < b.N; i++ {
			rawStream()
		}
		reportCPU(b, cpu)
	})
	// One of each per iteration, as in BenchmarkBlob64MiB/put-alternating:
	// the machine's speed drifts between sub-benchmarks run one after the
	// other, and alternating measures both in the same state.
	b.Run("alternating", func(b *testing.B) {
		putMS, rawMS := alternate(b, func(int) { put() }, func(int) { rawStream() })
		b.ReportMetric(mibps64(putMS), "put-MiB/s")
		b.ReportMetric(mibps64(rawMS), "raw-MiB/s")
		b.ReportMetric(rawMS*3/putMS, "put/(raw/3)")
	})
}
