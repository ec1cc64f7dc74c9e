//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode/overlay/transfer"
)

// The hostile peer runs as a process of its own, this test binary re-run
// inside a network namespace of the partition scenario's (see
// TestPartitions): a real libp2p host that opens hostileStreams streams on
// the block protocol, each carrying garbage or a frame that claims to be
// far over the limit, and floods both gossip topics with junk, for at most
// hostileFor.
const (
	hostileStreams = 10000
	hostileFor     = 90 * time.Second
	// hostilePace spreads the attack over about 40 s (250 streams and 500
	// gossip messages a second): a sustained attack, not one burst that
	// the honest gets measured beside it might fall between.
	hostilePace   = 4 * time.Millisecond
	envHostile    = "XNODE_E2E_HOSTILE_TARGET" // the target's p2p multiaddr
	envHostileNet = "XNODE_E2E_HOSTILE_CHAIN"  // the chain id, for the topic names
)

// TestHostileHelper is the hostile peer's process; it does nothing unless
// the partition scenario started it.
func TestHostileHelper(t *testing.T) {
	target := os.Getenv(envHostile)
	if target == "" {
		t.Skip("the hostile peer's process; TestPartitions starts it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostileFor)
	defer cancel()
	ma, err := multiaddr.NewMultiaddr(target)
	if err != nil {
		t.Fatal(err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/0.0.0.0/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.Connect(ctx, *ai); err != nil {
		t.Fatalf("connect %s: %v", target, err)
	}
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	chain := os.Getenv(envHostileNet)
	var published atomic.Int64
	var wg sync.WaitGroup
	for _, name := range []string{"/xnode/" + chain + "/members/1", "/xnode/" + chain + "/meta/1"} {
		topic, err := ps.Join(name)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			junk := make([]byte, 2048)
			tick := time.NewTicker(hostilePace)
			defer tick.Stop()
			for ctx.Err() == nil && published.Load() < 20000 {
				<-tick.C
				_, _ = rand.Read(junk)
				if topic.Publish(ctx, junk) == nil {
					published.Add(1)
				}
			}
		})
	}
	// Streams, 64 at a time: half garbage, half a frame header claiming a
	// gigabyte; each is then abandoned (reset) or left open until the
	// server drops it.
	var opened, refused atomic.Int64
	sem := make(chan struct{}, 64)
	pace := time.NewTicker(hostilePace)
	defer pace.Stop()
	for i := range hostileStreams {
		if ctx.Err() != nil {
			break
		}
		<-pace.C
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			st, err := h.NewStream(sctx, ai.ID, transfer.ProtocolID)
			if err != nil {
				refused.Add(1)
				return
			}
			opened.Add(1)
			_ = st.SetDeadline(time.Now().Add(3 * time.Second))
			if i%2 == 0 {
				junk := make([]byte, 4096)
				_, _ = rand.Read(junk)
				_, _ = st.Write(junk)
			} else {
				_, _ = st.Write(binary.AppendUvarint(nil, 1<<30))
				_, _ = st.Write(make([]byte, 64<<10))
			}
			if i%3 == 0 {
				_ = st.Reset()
				return
			}
			_ = st.CloseWrite()
			buf := make([]byte, 512)
			_, _ = st.Read(buf)
			_ = st.Close()
		})
	}
	wg.Wait()
	fmt.Printf("hostile: streams opened %d, refused %d; gossip junk published %s\n", opened.Load(), refused.Load(), strconv.FormatInt(published.Load(), 10))
}

// rssKiB is a process's resident set, from /proc.
func rssKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	var v int64
	for _, line := range bytesLines(b) {
		if n, err := fmt.Sscanf(line, "VmRSS: %d kB", &v); n == 1 && err == nil {
			return v
		}
	}
	return -1
}

func bytesLines(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == '\n' {
			out = append(out, string(b[start:i]))
			start = i + 1
		}
	}
	return out
}

// p99 is the 99th percentile of ds (nearest rank).
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}
