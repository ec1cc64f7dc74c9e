package transfer

import (
	"context"
	"testing"
	"time"
)

func TestExpLatency(t *testing.T) {
	a, c := newNode(t, DefaultConfig()), newNode(t, DefaultConfig())
	connect(t, a.h, c.h)
	blocks := make([]any, 0)
	_ = blocks
	ctx := context.Background()
	for _, size := range []int{1000, 100 << 10, 256 << 10, 512 << 10, 1 << 20, 4 << 20} {
		blk := randomBlock(t, size)
		for i := range 4 {
			start := time.Now()
			if err := a.svc.PutBlock(ctx, c.h.ID(), blk, false); err != nil {
				t.Fatal(err)
			}
			p := time.Since(start)
			start = time.Now()
			if _, err := a.svc.GetBlock(ctx, c.h.ID(), blk.CID); err != nil {
				t.Fatal(err)
			}
			t.Logf("size %d try %d put %s get %s", size, i, p, time.Since(start))
		}
	}
}
