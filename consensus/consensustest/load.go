package consensustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/xnode/xnode/consensus"
)

// LoadResult summarises a RunLoad.
type LoadResult struct {
	// Committed counts transactions committed with code 0.
	Committed int
	// Failed counts transactions that were rejected, failed in the block or
	// timed out.
	Failed int
	// FirstErr is the first failure, if any.
	FirstErr error
	// Duration is the wall time from the first submission to the last
	// commit.
	Duration time.Duration
	// P50, P95 and P99 are commit latencies (submission to commit event) of
	// the committed transactions.
	P50, P95, P99 time.Duration
}

// TxPerSec is committed transactions per second of wall time.
func (r LoadResult) TxPerSec() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Committed) / r.Duration.Seconds()
}

// String formats the result for logs.
func (r LoadResult) String() string {
	return fmt.Sprintf("%d committed, %d failed in %s: %.0f tx/s, p50 %s, p95 %s, p99 %s",
		r.Committed, r.Failed, r.Duration.Round(time.Millisecond), r.TxPerSec(),
		r.P50.Round(time.Millisecond), r.P95.Round(time.Millisecond), r.P99.Round(time.Millisecond))
}

// RunLoad submits total transactions makeTx(0..total-1) with BroadcastTxCommit,
// from concurrency submitters, spreading them round-robin over nodes (tx i
// goes to nodes[i%len(nodes)]), and measures commit latency and throughput.
// makeTx must return distinct transactions (the mempool drops duplicates) and
// be safe for concurrent use. Transactions wait for their commit until ctx
// ends; once it has, the rest count as failures.
func RunLoad(ctx context.Context, nodes []*consensus.Node, makeTx func(i int) []byte, total, concurrency int) LoadResult {
	if concurrency < 1 {
		concurrency = 1
	}
	latencies := make([]time.Duration, total)
	ok := make([]bool, total)
	var (
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
		wg       sync.WaitGroup
	)
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				res, err := nodes[i%len(nodes)].BroadcastTxCommit(ctx, makeTx(i))
				if err == nil {
					err = res.Err()
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("tx %d: %w", i, err)
					}
					mu.Unlock()
					continue
				}
				latencies[i] = time.Since(t0)
				ok[i] = true
			}
		}()
	}
feed:
	for i := range total {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	res := LoadResult{Duration: time.Since(start), FirstErr: firstErr}
	var committed []time.Duration
	for i := range total {
		if ok[i] {
			committed = append(committed, latencies[i])
		}
	}
	res.Committed = len(committed)
	res.Failed = total - res.Committed
	if res.Failed > 0 && res.FirstErr == nil {
		res.FirstErr = errors.New("load cut short: " + context.Cause(ctx).Error())
	}
	slices.Sort(committed)
	res.P50 = percentile(committed, 0.50)
	res.P95 = percentile(committed, 0.95)
	res.P99 = percentile(committed, 0.99)
	return res
}

// percentile of sorted durations, nearest-rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}
