package service

import (
	"fmt"

	"github.com/failsafe-go/failsafe-go/budget"
)

// permits is the part of failsafe-go's budget that counts executions and
// retry permits; its Budget value implements it.
type permits interface {
	RecordExecution()
	ReleaseExecution()
	TryAcquirePermit() bool
	ReleasePermit()
}

// Budget limits retries to a share of the requests in flight: failsafe-go's
// budget with MaxRate 0.2 and MinConcurrency 3 by default (Finagle's and
// Envoy's retry budgets).
type Budget struct {
	p permits
}

// NewBudget returns a budget; maxRate 0 means 0.2 and minConcurrent 0
// means 3.
func NewBudget(maxRate float64, minConcurrent uint) (*Budget, error) {
	if maxRate == 0 {
		maxRate = 0.2
	}
	if minConcurrent == 0 {
		minConcurrent = 3
	}
	if maxRate < 0 || maxRate > 1 {
		return nil, fmt.Errorf("service: retry budget rate %v: want 0..1", maxRate)
	}
	b := budget.NewBuilder().WithMaxRate(maxRate).WithMinConcurrency(minConcurrent).Build()
	p, ok := b.(permits)
	if !ok {
		return nil, fmt.Errorf("service: failsafe-go budget does not count permits")
	}
	return &Budget{p: p}, nil
}

// Begin records a first attempt in flight; call the returned func when it
// ends.
func (b *Budget) Begin() (end func()) {
	b.p.RecordExecution()
	return b.p.ReleaseExecution
}

// Retry asks for a retry permit. When granted, call release when the retry
// ends.
func (b *Budget) Retry() (release func(), ok bool) {
	if !b.p.TryAcquirePermit() {
		return nil, false
	}
	return b.p.ReleasePermit, true
}
