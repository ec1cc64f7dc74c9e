package consensus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	cmtpubsub "github.com/cometbft/cometbft/libs/pubsub"
	"github.com/cometbft/cometbft/types"
)

// eventRouter fans CometBFT's event bus out to many waiters with two
// subscriptions in total, whatever the number of callers: one for committed
// transactions (routed by hash to BroadcastTxCommit calls) and one for new
// blocks (coalesced onto NewBlocks channels).
//
// Why not one event-bus subscription per call: each subscription costs a
// query match for every published event (O(waiters × txs) per block), the
// RPC layer caps subscribers (max_subscription_clients 100, 5 per client),
// and a buffered subscription that falls behind is cancelled silently. The
// router's subscriptions are unbuffered, so none is ever dropped; in exchange
// the loop must never block: it only does map look-ups and non-blocking
// sends.
type eventRouter struct {
	log  *slog.Logger
	done chan struct{} // closed when the loop has exited

	mu     sync.Mutex
	closed bool
	txs    map[string][]chan types.EventDataTx // tx hash → waiters
	blocks map[chan int64]func() bool          // → stop of its context.AfterFunc
	recent txMemory                            // the latest fates, for SubmitTx and Tx
}

// RememberedTxs is how many transaction fates (commits this node saw,
// CheckTx rejections of SubmitTx) a node keeps in memory, so that a
// resubmission or a look-up of a recent transaction is answered without the
// tx index. Older ones are forgotten first.
const RememberedTxs = 10000

// txMemory is a bounded map of transaction fates by hash that forgets the
// oldest entry first. Only what a look-up reports is kept (no data, no
// events), so RememberedTxs entries cost a few MiB at most.
type txMemory struct {
	byHash map[string]TxResult
	order  []string // ring of keys in insertion order
	next   int      // the ring slot written next
}

func (m *txMemory) put(res TxResult) {
	if m.byHash == nil {
		m.byHash = make(map[string]TxResult)
		m.order = make([]string, 0, RememberedTxs)
	}
	key := string(res.Hash)
	res.Data, res.Events = nil, nil
	if _, ok := m.byHash[key]; ok {
		m.byHash[key] = res // a newer fate of the same bytes
		return
	}
	if len(m.order) < RememberedTxs {
		m.order = append(m.order, key)
	} else {
		delete(m.byHash, m.order[m.next])
		m.order[m.next] = key
		m.next = (m.next + 1) % RememberedTxs
	}
	m.byHash[key] = res
}

func (m *txMemory) get(hash []byte) (TxResult, bool) {
	res, ok := m.byHash[string(hash)]
	return res, ok
}

const (
	routerTxSubscriber    = "xnode-consensus-tx-router"
	routerBlockSubscriber = "xnode-consensus-block-router"
)

// newEventRouter subscribes to bus and starts the routing loop. The loop
// exits when the bus stops (Node.Close stops it), after which every waiter is
// released.
func newEventRouter(ctx context.Context, bus *types.EventBus, log *slog.Logger) (*eventRouter, error) {
	txSub, err := bus.SubscribeUnbuffered(ctx, routerTxSubscriber, types.EventQueryTx)
	if err != nil {
		return nil, fmt.Errorf("subscribe to txs: %w", err)
	}
	blockSub, err := bus.SubscribeUnbuffered(ctx, routerBlockSubscriber, types.EventQueryNewBlockEvents)
	if err != nil {
		// Nothing is published before the node starts, so this cannot block.
		_ = bus.UnsubscribeAll(ctx, routerTxSubscriber)
		return nil, fmt.Errorf("subscribe to blocks: %w", err)
	}
	r := &eventRouter{
		log:    log,
		done:   make(chan struct{}),
		txs:    make(map[string][]chan types.EventDataTx),
		blocks: make(map[chan int64]func() bool),
	}
	go r.loop(txSub, blockSub)
	return r, nil
}

// loop drains both subscriptions until the bus cancels them. It keeps
// draining one after the other is cancelled: an unbuffered subscription
// nobody reads would block the bus, and with it consensus.
func (r *eventRouter) loop(txSub, blockSub types.Subscription) {
	defer r.shutdown()
	txOut, txCanceled := txSub.Out(), txSub.Canceled()
	blockOut, blockCanceled := blockSub.Out(), blockSub.Canceled()
	for txCanceled != nil || blockCanceled != nil {
		select {
		case msg := <-txOut:
			r.routeTx(msg)
		case msg := <-blockOut:
			r.routeBlock(msg)
		case <-txCanceled:
			txOut, txCanceled = nil, nil
			if err := txSub.Err(); err != nil && err != cmtpubsub.ErrUnsubscribed {
				r.log.Debug("tx subscription ended", "err", err)
			}
		case <-blockCanceled:
			blockOut, blockCanceled = nil, nil
		}
	}
}

func (r *eventRouter) routeTx(msg cmtpubsub.Message) {
	ev, ok := msg.Data().(types.EventDataTx)
	if !ok {
		return
	}
	res := committedResult(ev)
	key := string(res.Hash)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recent.put(res)
	for _, ch := range r.txs[key] {
		select {
		case ch <- ev:
		default: // already delivered once (the same bytes committed twice)
		}
	}
}

func (r *eventRouter) routeBlock(msg cmtpubsub.Message) {
	ev, ok := msg.Data().(types.EventDataNewBlockEvents)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for ch := range r.blocks {
		coalesce(ch, ev.Height)
	}
}

// coalesce puts h on ch (capacity 1), replacing an unread older height: the
// consumer only needs the latest height to know what is new. Only the router
// sends, so after draining the send cannot fail.
func coalesce(ch chan int64, h int64) {
	select {
	case ch <- h:
		return
	default:
	}
	select {
	case <-ch:
	default:
	}
	select {
	case ch <- h:
	default:
	}
}

// shutdown releases everyone once the loop has exited.
func (r *eventRouter) shutdown() {
	r.mu.Lock()
	r.closed = true
	for ch, stop := range r.blocks {
		stop()
		close(ch)
	}
	r.blocks = nil
	r.txs = nil
	r.mu.Unlock()
	close(r.done)
}

// remember records a fate learnt outside the event bus (a CheckTx
// rejection), unless a commit of the same bytes is already known.
func (r *eventRouter) remember(res TxResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.recent.get(res.Hash); ok && old.Status == TxCommitted {
		return
	}
	r.recent.put(res)
}

// recall returns the remembered fate of the transaction with hash.
func (r *eventRouter) recall(hash []byte) (TxResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recent.get(hash)
}

// wait blocks until the loop has exited.
func (r *eventRouter) wait() { <-r.done }

// watchTx registers a waiter for the transaction with hash. The returned
// channel receives the transaction's result once it is committed; cancel
// must be called when the caller stops waiting.
func (r *eventRouter) watchTx(hash []byte) (<-chan types.EventDataTx, func(), error) {
	ch := make(chan types.EventDataTx, 1)
	key := string(hash)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, nil, ErrClosed
	}
	r.txs[key] = append(r.txs[key], ch)
	cancel := func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.closed {
			return
		}
		ws := r.txs[key]
		for i, w := range ws {
			if w == ch {
				ws = append(ws[:i], ws[i+1:]...)
				break
			}
		}
		if len(ws) == 0 {
			delete(r.txs, key)
		} else {
			r.txs[key] = ws
		}
	}
	return ch, cancel, nil
}

// pendingTxWaiters reports how many BroadcastTxCommit calls are waiting; for
// tests that check waiters are cleaned up.
func (r *eventRouter) pendingTxWaiters() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ws := range r.txs {
		n += len(ws)
	}
	return n
}

// watchBlocks registers a coalescing height channel that closes when ctx ends
// or the router shuts down.
func (r *eventRouter) watchBlocks(ctx context.Context) (<-chan int64, error) {
	ch := make(chan int64, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	r.blocks[ch] = context.AfterFunc(ctx, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if _, ok := r.blocks[ch]; ok {
			delete(r.blocks, ch)
			close(ch)
		}
	})
	return ch, nil
}
