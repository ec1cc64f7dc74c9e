package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// errBudget means the resource manager refused memory for a frame.
var errBudget = errors.New("frame memory over resource budget")

// errNoFrame means the stream ended before the first byte of a frame.
var errNoFrame = errors.New("stream ended before a frame")

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// readFrame reads one frame from st. Memory for the payload is reserved in
// the stream's resource scope once the header is known to be within
// MaxFrameBytes; release gives it back (the scope also frees it when the
// stream ends). With pool, the payload is a recycled buffer that release
// also gives back: nothing may use it afterwards.
func (s *Service) readFrame(st network.Stream, pool *framePool) (payload []byte, release func(), err error) {
	head := &countingReader{r: st}
	n, err := readFrameLen(head, s.cfg.MaxFrameBytes)
	if err != nil {
		if head.n == 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w: %w", errNoFrame, err)
		}
		return nil, nil, err
	}
	scope := st.Scope()
	if err := scope.ReserveMemory(n, reservePriority); err != nil {
		return nil, nil, fmt.Errorf("%w: %d bytes: %v", errBudget, n, err)
	}
	payload, err = readFrameBody(st, n, pool)
	if err != nil {
		scope.ReleaseMemory(n)
		return nil, nil, err
	}
	release = func() {
		pool.put(payload)
		scope.ReleaseMemory(n)
	}
	return payload, release, nil
}

// handle serves one request stream. It never lets a panic escape: a bug
// triggered by one peer's input costs that stream, not the node.
func (s *Service) handle(st network.Stream) {
	if !s.enter() {
		_ = st.Reset()
		return
	}
	defer s.leave()
	remote := st.Conn().RemotePeer()
	log := s.log.With("peer", remote)
	defer func() {
		if r := recover(); r != nil {
			log.Error("transfer: handler panic", "panic", r, "stack", string(debug.Stack()))
			_ = st.Reset()
		}
	}()
	// Close cuts in-flight requests short instead of waiting out their
	// deadlines.
	stop := context.AfterFunc(s.ctx, func() { _ = st.Reset() })
	defer stop()

	start := time.Now()
	if err := st.Scope().SetService(ServiceName); err != nil {
		log.Debug("transfer: service scope refused stream", "err", err)
		s.m.reject(reasonBusy)
		s.answer(st, "unknown", failure(statusBusy, "resource limit"))
		return
	}
	release, ok := s.inbound.tryAcquire(remote)
	if !ok {
		s.m.reject(reasonBusy)
		s.answer(st, "unknown", failure(statusBusy, "too many concurrent requests"))
		return
	}
	defer release()

	deadline := start.Add(s.cfg.RequestTimeout)
	_ = st.SetDeadline(deadline)
	// The request buffer is recycled once answered: the store keeps no
	// reference to a block's bytes after PutHashed returns.
	payload, free, err := s.readFrame(st, &s.frames)
	if err != nil {
		switch {
		case errors.Is(err, errBudget):
			s.m.reject(reasonBusy)
			s.answer(st, "unknown", failure(statusBusy, "memory budget"))
		case errors.Is(err, errFrameTooLarge):
			s.m.reject(reasonTooLarge)
			// Debug: a flood of these must not flood the log; the peer's
			// ban (OnViolation) is what gets a Warn.
			log.Debug("transfer: request frame over limit", "err", err)
			_ = st.Reset()
			s.violation(remote, ViolationFrameTooLarge)
		case errors.Is(err, errMalformed):
			s.m.reject(reasonBadRequest)
			s.answer(st, "unknown", failure(statusBadRequest, err.Error()))
			s.violation(remote, ViolationBadLength)
		default:
			s.m.reject(reasonTruncated)
			log.Debug("transfer: request not read", "err", err)
			_ = st.Reset()
			// Only a clean close inside a frame: a reset, a deadline or
			// a stream that ended before any byte is not a violation.
			if errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errNoFrame) {
				s.violation(remote, ViolationTruncated)
			}
		}
		return
	}
	defer free()
	op := opName(payload[0])
	s.m.bytes.WithLabelValues("in", op).Add(float64(len(payload)))

	ctx, cancel := context.WithDeadline(s.ctx, deadline)
	defer cancel()
	resp := s.serve(ctx, log, payload)
	s.answer(st, op, resp...)
	s.m.duration.WithLabelValues(op, "server").Observe(time.Since(start).Seconds())
}

// violation reports a protocol violation by p to Config.OnViolation.
func (s *Service) violation(p peer.ID, reason string) {
	if s.cfg.OnViolation != nil {
		s.cfg.OnViolation(p, reason)
	}
}

// answer writes the response frame and closes the stream.
func (s *Service) answer(st network.Stream, op string, parts ...[]byte) {
	if err := writeFrame(st, parts...); err != nil {
		_ = st.Reset()
		return
	}
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	s.m.bytes.WithLabelValues("out", op).Add(float64(n))
	_ = st.Close()
}

// serve decodes and executes one request and returns the response payload.
func (s *Service) serve(ctx context.Context, log *slog.Logger, payload []byte) [][]byte {
	req, err := decodeRequest(payload, s.cfg.MaxBatch)
	if err != nil {
		s.m.reject(reasonBadRequest)
		return [][]byte{failure(statusBadRequest, err.Error())}
	}
	switch req.op {
	case opPut:
		// Verify before the store sees the bytes: nothing unverified is
		// ever written, whatever the store does.
		if err := block.Verify(req.cid, req.data); err != nil {
			s.m.reject(reasonIntegrity)
			log.Warn("transfer: refused put of bytes that do not match their cid", "cid", req.cid, "size", len(req.data))
			return [][]byte{failure(statusIntegrity, err.Error())}
		}
		if err := s.store.PutHashed(ctx, block.Block{CID: req.cid, Data: req.data}, req.tentative); err != nil {
			if errors.Is(err, xnode.ErrIntegrity) {
				s.m.reject(reasonIntegrity)
				return [][]byte{failure(statusIntegrity, err.Error())}
			}
			log.Error("transfer: store put", "cid", req.cid, "err", err)
			return [][]byte{failure(statusInternal, "store failed")}
		}
		s.m.blocks.WithLabelValues("in", "put").Inc()
		return [][]byte{{statusOK}}

	case opGet:
		b, err := s.store.Get(ctx, req.cid)
		switch {
		case errors.Is(err, xnode.ErrNotFound):
			return [][]byte{failure(statusNotFound, "")}
		case errors.Is(err, xnode.ErrIntegrity):
			// The store found a bad local copy; to the asker that is a
			// missing block, and it should try another owner.
			log.Warn("transfer: local copy failed verification", "cid", req.cid, "err", err)
			return [][]byte{failure(statusNotFound, "local copy corrupt")}
		case err != nil:
			log.Error("transfer: store get", "cid", req.cid, "err", err)
			return [][]byte{failure(statusInternal, "store failed")}
		case 1+len(b.Data) > s.cfg.MaxFrameBytes:
			log.Error("transfer: block over frame limit", "cid", req.cid, "size", len(b.Data))
			return [][]byte{failure(statusInternal, "block over frame limit")}
		}
		s.m.blocks.WithLabelValues("out", "get").Inc()
		return [][]byte{{statusOK}, b.Data}

	case opHas:
		has, err := s.store.HasMany(ctx, req.cids)
		if err != nil || len(has) != len(req.cids) {
			log.Error("transfer: store has", "n", len(req.cids), "answers", len(has), "err", err)
			return [][]byte{failure(statusInternal, "store failed")}
		}
		return [][]byte{encodeBitmap(has)}

	case opConfirm:
		if err := s.store.Confirm(ctx, req.cids); err != nil {
			if errors.Is(err, xnode.ErrNotFound) {
				return [][]byte{failure(statusNotFound, err.Error())}
			}
			log.Error("transfer: store confirm", "n", len(req.cids), "err", err)
			return [][]byte{failure(statusInternal, "store failed")}
		}
		return [][]byte{{statusOK}}

	case opAbandon:
		// Only tentative copies go: a peer can undo an unacknowledged put,
		// never a confirmed block.
		n, err := s.store.Abandon(ctx, req.cids)
		if err != nil {
			log.Error("transfer: store abandon", "n", len(req.cids), "err", err)
			return [][]byte{failure(statusInternal, "store failed")}
		}
		if n > 0 {
			log.Debug("transfer: abandoned tentative copies of a failed put", "blocks", n)
		}
		return [][]byte{{statusOK}}
	}
	// decodeRequest refuses unknown ops; this is a guard, not a path.
	return [][]byte{failure(statusBadRequest, "unknown op")}
}
