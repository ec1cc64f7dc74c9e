package overlay

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// probe asks the owners of each block whether they hold it, one batched
// has request per member (this node answers from its store), at most
// concurrency members at a time, each bounded by timeout. has[i][p] is the
// answer of owners[i]'s member p; a member that did not answer is absent,
// so callers can tell "lacks it" from "unknown".
func (bs *blocks) probe(ctx context.Context, cids []cid.Cid, owners [][]peer.ID, concurrency int, timeout time.Duration) []map[peer.ID]bool {
	ask := map[peer.ID][]int{} // member → indexes into cids
	for i := range cids {
		for _, p := range owners[i] {
			ask[p] = append(ask[p], i)
		}
	}
	has := make([]map[peer.ID]bool, len(cids))
	for i := range has {
		has[i] = map[peer.ID]bool{}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for p, idx := range ask {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cs := make([]cid.Cid, len(idx))
			for j, i := range idx {
				cs[j] = cids[i]
			}
			got, err := bs.hasMany(ctx, p, cs, timeout)
			if err != nil || len(got) != len(cs) {
				bs.log.Debug("probe: member did not answer", "peer", p, "err", err)
				return
			}
			mu.Lock()
			for j, i := range idx {
				has[i][p] = got[j]
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return has
}

func (bs *blocks) hasMany(ctx context.Context, p peer.ID, cs []cid.Cid, timeout time.Duration) ([]bool, error) {
	if p == bs.self {
		return bs.local.HasMany(ctx, cs)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := bs.reach(ctx, p); err != nil {
		return nil, err
	}
	return bs.remote.HasMany(ctx, p, cs)
}
