//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xnode/xnode/api"
)

// blobSpec is one blob the suite writes: its size and the seed of its
// content, so the bytes can be made again without keeping them.
type blobSpec struct {
	set  string
	idx  int
	size int64
	seed [32]byte
}

// makeSpecs returns n specs with sizes log-uniform in [lo, hi], all fixed by
// seed and set.
func makeSpecs(set string, seed uint64, n int, lo, hi int64) []blobSpec {
	h := fnv.New64a()
	h.Write([]byte(set))
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	lnLo, lnHi := math.Log(float64(lo)), math.Log(float64(hi))
	out := make([]blobSpec, n)
	for i := range out {
		size := int64(math.Round(math.Exp(lnLo + r.Float64()*(lnHi-lnLo))))
		size = min(max(size, lo), hi)
		out[i] = blobSpec{set: set, idx: i, size: size,
			seed: sha256.Sum256(fmt.Appendf(nil, "xnode-e2e/%s/%d/%d", set, seed, i))}
	}
	return out
}

// content makes the blob's bytes.
func (s blobSpec) content() []byte {
	b := make([]byte, s.size)
	_, _ = rand.NewChaCha8(s.seed).Read(b)
	return b
}

func (s blobSpec) String() string { return fmt.Sprintf("%s#%d (%d B)", s.set, s.idx, s.size) }

// blob is an acknowledged write.
type blob struct {
	spec     blobSpec
	sum      [32]byte
	cid      string
	chunks   int
	replicas int
	via      string // node that acknowledged it
	ackedAt  time.Time
	how      string // "http" or "cli"
}

func (b *blob) String() string { return fmt.Sprintf("%s %s", b.spec, b.cid) }

// totalBytes sums the sizes of blobs.
func totalBytes(bs []*blob) int64 {
	var n int64
	for _, b := range bs {
		n += b.spec.size
	}
	return n
}

// writeResult is what a write load did.
type writeResult struct {
	acked          []*blob
	failedAttempts int      // writes not acknowledged (each try counts)
	gaveUp         int      // blobs never acknowledged after every try
	errs           []string // the first few failures
	took           time.Duration
	minReplicas    int
	slowest        time.Duration // the longest acknowledged put
}

// writeLoad writes specs from one goroutine per entry of writers (the node
// each starts on). A writer whose node stops answering moves to another node
// not in avoid. A failed write is retried up to tries times with the same
// bytes; every failure counts as an unacknowledged write.
type writeLoad struct {
	c       *cluster
	writers []string
	tries   int
	onAck   func(*blob) // called from the writer goroutine for each ack

	mu    sync.Mutex
	avoid map[string]bool
}

// markDead tells writers to leave node.
func (w *writeLoad) markDead(node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.avoid == nil {
		w.avoid = map[string]bool{}
	}
	w.avoid[node] = true
}

func (w *writeLoad) avoided(node string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.avoid[node]
}

// next returns a node after cur, in cluster order, that is not avoided.
func (w *writeLoad) next(cur string, salt int) string {
	names := w.c.names()
	w.mu.Lock()
	defer w.mu.Unlock()
	var ok []string
	for _, n := range names {
		if !w.avoid[n] && n != cur {
			ok = append(ok, n)
		}
	}
	if len(ok) == 0 {
		return cur
	}
	return ok[salt%len(ok)]
}

func (w *writeLoad) run(ctx context.Context, specs []blobSpec) writeResult {
	start := time.Now()
	jobs := make(chan blobSpec)
	var mu sync.Mutex
	res := writeResult{minReplicas: math.MaxInt}
	var wg sync.WaitGroup
	for i, first := range w.writers {
		wg.Go(func() {
			node := first
			for s := range jobs {
				data := s.content()
				sum := sha256.Sum256(data)
				for try := 1; try <= w.tries; try++ {
					if w.avoided(node) {
						node = w.next(node, i)
					}
					pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
					t0 := time.Now()
					pr, err := w.c.clients[node].Put(pctx, bytes.NewReader(data))
					lat := time.Since(t0)
					cancel()
					if err == nil && (pr.CID == "" || pr.Size != uint64(s.size)) {
						err = fmt.Errorf("bad acknowledgement %+v for %d bytes", pr, s.size)
					}
					if err != nil {
						mu.Lock()
						res.failedAttempts++
						if len(res.errs) < 8 {
							res.errs = append(res.errs, fmt.Sprintf("%s via %s (try %d): %v", s, node, try, err))
						}
						if try == w.tries {
							res.gaveUp++
						}
						mu.Unlock()
						if errors.Is(err, api.ErrUnreachable) || w.avoided(node) {
							node = w.next(node, i)
						}
						if ctx.Err() != nil {
							break
						}
						continue
					}
					b := &blob{spec: s, sum: sum, cid: pr.CID, chunks: pr.Chunks, replicas: pr.Replicas, via: node, ackedAt: time.Now(), how: "http"}
					mu.Lock()
					res.acked = append(res.acked, b)
					res.minReplicas = min(res.minReplicas, pr.Replicas)
					res.slowest = max(res.slowest, lat)
					mu.Unlock()
					if w.onAck != nil {
						w.onAck(b)
					}
					break
				}
			}
		})
	}
	for _, s := range specs {
		select {
		case jobs <- s:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	wg.Wait()
	res.took = time.Since(start)
	sort.Slice(res.acked, func(i, j int) bool { return res.acked[i].spec.idx < res.acked[j].spec.idx })
	return res
}

// putCLI writes the blob with `xnode put --json --api NODE FILE`.
func (c *cluster) putCLI(ctx context.Context, node string, s blobSpec, dir string) (*blob, error) {
	data := s.content()
	path := filepath.Join(dir, fmt.Sprintf("put-%s-%d", s.set, s.idx))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return nil, err
	}
	defer os.Remove(path)
	out, err := c.cli(ctx, "put", "--json", "--api", c.node(node).API, path)
	if err != nil {
		return nil, err
	}
	var pr api.PutResult
	if err := json.Unmarshal(out, &pr); err != nil || pr.CID == "" {
		return nil, fmt.Errorf("xnode put --json printed %q: %v", tail(string(out), 5), err)
	}
	if pr.Size != uint64(s.size) {
		return nil, fmt.Errorf("xnode put --json: size %d, wrote %d", pr.Size, s.size)
	}
	return &blob{spec: s, sum: sha256.Sum256(data), cid: pr.CID, chunks: pr.Chunks, replicas: pr.Replicas, via: node, ackedAt: time.Now(), how: "cli"}, nil
}

// getCLI reads the blob with `xnode get CID -o FILE --api NODE` and checks
// the file's bytes.
func (c *cluster) getCLI(ctx context.Context, node string, b *blob, dir string) error {
	path := filepath.Join(dir, fmt.Sprintf("get-%s-%d-%s", b.spec.set, b.spec.idx, node))
	defer os.Remove(path)
	if _, err := c.cli(ctx, "get", b.cid, "-o", path, "--api", c.node(node).API); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if int64(len(data)) != b.spec.size || sha256.Sum256(data) != b.sum {
		return fmt.Errorf("%w: xnode get %s from %s: %d bytes, sha256 %x; want %d bytes %x",
			errWrongBytes, b, node, len(data), sha256.Sum256(data), b.spec.size, b.sum)
	}
	return nil
}

// errWrongBytes marks a read that succeeded with bytes other than written.
var errWrongBytes = errors.New("wrong bytes served")

// readOnce fetches the blob from node over HTTP and compares its bytes.
func (c *cluster) readOnce(ctx context.Context, node string, b *blob, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := sha256.New()
	n, err := c.clients[node].Get(ctx, b.cid, h)
	if err != nil {
		return fmt.Errorf("get %s from %s: %w", b, node, err)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	if n != b.spec.size || sum != b.sum {
		return fmt.Errorf("%w: %s from %s: %d bytes sha256 %x; want %d bytes %x", errWrongBytes, b, node, n, sum, b.spec.size, b.sum)
	}
	return nil
}

// readStats counts reads.
type readStats struct {
	mu       sync.Mutex
	attempts int
	errors   int // failed attempts (a retried read that then worked still counts)
	wrong    []string
	samples  []string
	// unreadable maps a blob to the nodes that never served it.
	unreadable map[*blob][]string
	took       time.Duration
	bytes      int64         // bytes of the reads that matched
	slowest    time.Duration // the longest read that matched
}

func (r *readStats) note(b *blob, lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if err == nil {
		r.bytes += b.spec.size
		r.slowest = max(r.slowest, lat)
		return
	}
	if errors.Is(err, errWrongBytes) {
		r.wrong = append(r.wrong, err.Error())
		return
	}
	r.errors++
	if len(r.samples) < 6 {
		r.samples = append(r.samples, err.Error())
	}
}

func (r *readStats) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%d reads, %d errors, %d wrong, %d unreadable, %.1f MiB, slowest good read %s", r.attempts, r.errors, len(r.wrong), len(r.unreadable), mib(r.bytes), r.slowest.Round(time.Millisecond))
	if r.took > 0 {
		s += fmt.Sprintf(", pass took %s", r.took.Round(time.Millisecond))
	}
	return s
}

// readAll reads every blob from every node (workers at a time), trying each
// pair up to tries times.
func (c *cluster) readAll(ctx context.Context, nodes []string, blobs []*blob, tries, workers int) *readStats {
	start := time.Now()
	st := &readStats{unreadable: map[*blob][]string{}}
	type pair struct {
		b    *blob
		node string
	}
	jobs := make(chan pair)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p := range jobs {
				var err error
				for try := 1; try <= tries; try++ {
					t0 := time.Now()
					err = c.readOnce(ctx, p.node, p.b, 60*time.Second)
					st.note(p.b, time.Since(t0), err)
					if err == nil || errors.Is(err, errWrongBytes) || ctx.Err() != nil {
						break
					}
					if try < tries {
						_ = wait(ctx, time.Second)
					}
				}
				if err != nil && !errors.Is(err, errWrongBytes) {
					st.mu.Lock()
					st.unreadable[p.b] = append(st.unreadable[p.b], p.node)
					st.mu.Unlock()
				}
			}
		})
	}
	// Blob-major order spreads each node's load over the run.
	for _, b := range blobs {
		for _, n := range nodes {
			select {
			case jobs <- pair{b, n}:
			case <-ctx.Done():
			}
		}
	}
	close(jobs)
	wg.Wait()
	st.took = time.Since(start)
	return st
}

// lightReader keeps reading random small blobs from random nodes until
// stopped, counting errors: the "reads during faults" probe.
type lightReader struct {
	stats  readStats
	cancel context.CancelFunc
	done   sync.WaitGroup
}

func (c *cluster) startLightReader(ctx context.Context, nodes []string, blobs []*blob, workers int, seed uint64) *lightReader {
	var small []*blob
	for _, b := range blobs {
		if b.spec.size <= 1<<20 {
			small = append(small, b)
		}
	}
	if len(small) == 0 {
		small = blobs
	}
	ctx, cancel := context.WithCancel(ctx)
	lr := &lightReader{cancel: cancel, stats: readStats{unreadable: map[*blob][]string{}}}
	var seq atomic.Uint64
	for range workers {
		lr.done.Go(func() {
			r := rand.New(rand.NewPCG(seed, seq.Add(1)))
			tick := time.NewTicker(150 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				b, node := small[r.IntN(len(small))], nodes[r.IntN(len(nodes))]
				t0 := time.Now()
				err := c.readOnce(ctx, node, b, 15*time.Second)
				if ctx.Err() != nil {
					return // cut off by stop: not a fault
				}
				lr.stats.note(b, time.Since(t0), err)
			}
		})
	}
	return lr
}

func (lr *lightReader) stop() *readStats {
	lr.cancel()
	lr.done.Wait()
	return &lr.stats
}

// replicationGap says why b does not have want live replicas of its root
// and of every chunk as node sees it, or "" when it does. live is the set of
// peer ids that run.
func (c *cluster) replicationGap(ctx context.Context, node string, b *blob, want int, live map[string]bool) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	loc, err := c.clients[node].Locate(ctx, b.cid)
	if err != nil {
		return fmt.Sprintf("locate: %v", err)
	}
	check := func(what string, owners []api.Owner) string {
		if len(owners) != want {
			return fmt.Sprintf("%s has %d owners, want %d", what, len(owners), want)
		}
		for _, o := range owners {
			if !live[o.Peer] {
				return fmt.Sprintf("%s owner %s (rank %d) is not a live node", what, short(o.Peer), o.Rank)
			}
			if !o.Has {
				return fmt.Sprintf("%s owner %s (rank %d) lacks it", what, short(o.Peer), o.Rank)
			}
		}
		return ""
	}
	if g := check("root", loc.Owners); g != "" {
		return g
	}
	// A blob of one chunk is its own raw root (UnixFS, as in IPFS): locate
	// lists no other block. A larger one lists every leaf, and any
	// intermediate node above 174 leaves.
	wantBlocks := b.chunks
	if b.chunks <= 1 {
		wantBlocks = 0
	}
	if len(loc.Blocks) < wantBlocks || (wantBlocks == 0 && len(loc.Blocks) != 0) {
		return fmt.Sprintf("locate lists %d blocks besides the root, put said %d chunks", len(loc.Blocks), b.chunks)
	}
	for i, bl := range loc.Blocks {
		if g := check(fmt.Sprintf("chunk %d", i), bl.Owners); g != "" {
			return g
		}
	}
	return ""
}

// waitReplicated polls locate on node until every blob has want live
// replicas of every block, and returns when that first held. Blobs found
// complete are not asked again.
func (c *cluster) waitReplicated(ctx context.Context, node string, blobs []*blob, want int, live map[string]bool, timeout time.Duration) (time.Time, error) {
	pending := slices.Clone(blobs)
	var last string
	rounds := 0
	err := poll(ctx, timeout, time.Second, func() (bool, error) {
		if err := c.exited(node); err != nil {
			return false, err
		}
		rounds++
		var mu sync.Mutex
		var still []*blob
		jobs := make(chan *blob)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for b := range jobs {
					if g := c.replicationGap(ctx, node, b, want, live); g != "" {
						mu.Lock()
						still = append(still, b)
						last = fmt.Sprintf("%s: %s", b, g)
						mu.Unlock()
					}
				}
			})
		}
		for _, b := range pending {
			jobs <- b
		}
		close(jobs)
		wg.Wait()
		pending = still
		return len(pending) == 0, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("%d of %d blobs lack %d live replicas after %d rounds (e.g. %s): %w", len(pending), len(blobs), want, rounds, last, err)
	}
	return time.Now(), nil
}

// short abbreviates a peer id for messages.
func short(id string) string {
	if len(id) > 12 {
		return "…" + id[len(id)-8:]
	}
	return id
}
