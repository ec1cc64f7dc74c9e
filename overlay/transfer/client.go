package transfer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// PutBlock sends b to p and returns nil only once p has verified it and
// stored it durably. tentative is passed to the remote store. The bytes are
// not hashed here: the remote verifies them and answers INTEGRITY
// (ErrIntegrity) when they do not match.
func (s *Service) PutBlock(ctx context.Context, p peer.ID, b block.Block, tentative bool) error {
	if err := block.Check(b.CID); err != nil {
		return fmt.Errorf("put to %s: %w", p, err)
	}
	head := encodePutHeader(b.CID, tentative)
	if len(head)+len(b.Data) > s.cfg.MaxFrameBytes {
		return fmt.Errorf("put %s to %s: transfer: %w: %d bytes over frame limit %d",
			b.CID, p, xnode.ErrTooLarge, len(b.Data), s.cfg.MaxFrameBytes)
	}
	if _, err := s.roundTrip(ctx, p, opPut, head, b.Data); err != nil {
		return fmt.Errorf("put %s to %s: %w", b.CID, p, err)
	}
	s.m.blocks.WithLabelValues("out", "put").Inc()
	return nil
}

// GetBlock fetches c from p and verifies the bytes against c. Wrong bytes
// are never returned: they are counted and reported as ErrIntegrity. A
// remote that does not hold c gives ErrNotFound.
func (s *Service) GetBlock(ctx context.Context, p peer.ID, c cid.Cid) (block.Block, error) {
	if err := block.Check(c); err != nil {
		return block.Block{}, fmt.Errorf("get from %s: %w", p, err)
	}
	data, err := s.roundTrip(ctx, p, opGet, encodeGet(c))
	if err != nil {
		return block.Block{}, fmt.Errorf("get %s from %s: %w", c, p, err)
	}
	if err := block.Verify(c, data); err != nil {
		s.m.reject(reasonIntegrity)
		s.log.Warn("transfer: peer served bytes that do not match their cid", "peer", p, "cid", c, "size", len(data))
		return block.Block{}, fmt.Errorf("get %s from %s: %w: %w", c, p, ErrIntegrity, err)
	}
	s.m.blocks.WithLabelValues("in", "get").Inc()
	return block.Block{CID: c, Data: data}, nil
}

// HasMany asks p which of cs it holds. Lists longer than MaxBatch go out as
// several requests, one after another.
func (s *Service) HasMany(ctx context.Context, p peer.ID, cs []cid.Cid) ([]bool, error) {
	if err := checkAll(cs); err != nil {
		return nil, fmt.Errorf("has on %s: %w", p, err)
	}
	out := make([]bool, 0, len(cs))
	for batch := range chunks(cs, s.cfg.MaxBatch) {
		body, err := s.roundTrip(ctx, p, opHas, encodeBatch(opHas, batch))
		if err != nil {
			return nil, fmt.Errorf("has %d cids on %s: %w", len(batch), p, err)
		}
		has, err := decodeBitmap(body, len(batch))
		if err != nil {
			s.m.reject(reasonBadResp)
			return nil, fmt.Errorf("has %d cids on %s: %w: %v", len(batch), p, ErrRemote, err)
		}
		out = append(out, has...)
	}
	return out, nil
}

// Confirm tells p that its tentative copies of cs are confirmed. Lists
// longer than MaxBatch go out as several requests.
func (s *Service) Confirm(ctx context.Context, p peer.ID, cs []cid.Cid) error {
	return s.batches(ctx, p, opConfirm, cs)
}

// Abandon tells p that the put its tentative copies of cs were for has
// failed, so it deletes those still tentative. Lists longer than MaxBatch
// go out as several requests.
func (s *Service) Abandon(ctx context.Context, p peer.ID, cs []cid.Cid) error {
	return s.batches(ctx, p, opAbandon, cs)
}

// batches sends op for cs to p, MaxBatch CIDs per request, for the ops
// whose answer is only a status.
func (s *Service) batches(ctx context.Context, p peer.ID, op byte, cs []cid.Cid) error {
	if err := checkAll(cs); err != nil {
		return fmt.Errorf("%s on %s: %w", opName(op), p, err)
	}
	for batch := range chunks(cs, s.cfg.MaxBatch) {
		if _, err := s.roundTrip(ctx, p, op, encodeBatch(op, batch)); err != nil {
			return fmt.Errorf("%s %d cids on %s: %w", opName(op), len(batch), p, err)
		}
	}
	return nil
}

func checkAll(cs []cid.Cid) error {
	for _, c := range cs {
		if err := block.Check(c); err != nil {
			return err
		}
	}
	return nil
}

// chunks yields cs in consecutive slices of at most n.
func chunks(cs []cid.Cid, n int) func(func([]cid.Cid) bool) {
	return func(yield func([]cid.Cid) bool) {
		for len(cs) > 0 {
			k := min(n, len(cs))
			if !yield(cs[:k]) {
				return
			}
			cs = cs[k:]
		}
	}
}

// errRemoteBusy marks a BUSY answer among ErrOverloaded errors.
var errRemoteBusy = errors.New("remote busy")

// roundTrip is roundTripOnce, retried while the remote answers BUSY (see
// Config.BusyRetries). A peer still busy after the retries is reported as
// ErrOverloaded.
func (s *Service) roundTrip(ctx context.Context, p peer.ID, op byte, parts ...[]byte) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		body, err := s.roundTripOnce(ctx, p, op, parts...)
		if !errors.Is(err, errRemoteBusy) || attempt == s.cfg.BusyRetries {
			return body, err
		}
		select {
		case <-time.After(s.cfg.BusyBackoff << attempt):
		case <-ctx.Done():
			return nil, s.ctxError(ctx, err)
		}
	}
}

// roundTripOnce sends one request frame on a new stream to p and returns the
// body of an OK answer, or the error the answer's status maps to.
func (s *Service) roundTripOnce(ctx context.Context, p peer.ID, op byte, parts ...[]byte) ([]byte, error) {
	if !s.enter() {
		return nil, ErrClosed
	}
	defer s.leave()
	name := opName(op)
	start := time.Now()
	defer func() { s.m.duration.WithLabelValues(name, "client").Observe(time.Since(start).Seconds()) }()

	release, err := s.outbound.acquire(ctx, p)
	if err != nil {
		return nil, s.ctxError(ctx, err)
	}
	defer release()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	stopClose := context.AfterFunc(s.ctx, cancel)
	defer stopClose()

	st, err := s.host.NewStream(ctx, p, ProtocolID)
	if err != nil {
		if ctx.Err() != nil {
			return nil, s.ctxError(ctx, err)
		}
		return nil, fmt.Errorf("%w: open stream: %v", ErrRemote, err)
	}
	stopReset := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stopReset()
	if err := st.Scope().SetService(ServiceName); err != nil {
		_ = st.Reset()
		return nil, fmt.Errorf("%w: local resource limit: %v", ErrOverloaded, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = st.SetDeadline(dl)
	}

	// The request is written while the answer is read: a server that
	// refuses early (BUSY, a bad header) answers before reading the body,
	// and a blocked write must not keep us from seeing that answer.
	written := make(chan error, 1)
	go func() {
		err := writeFrame(st, parts...)
		if err == nil {
			err = st.CloseWrite()
		}
		written <- err
	}()

	payload, free, rerr := s.readFrame(st, nil) // a GET answer becomes the caller's block
	if rerr != nil {
		_ = st.Reset()
		werr := <-written
		return nil, s.readError(ctx, rerr, werr)
	}
	defer free()
	select {
	case <-written:
	default:
		// Answered before the request was sent whole: stop sending.
		_ = st.Reset()
		<-written
	}
	_ = st.Close()

	n := 0
	for _, part := range parts {
		n += len(part)
	}
	s.m.bytes.WithLabelValues("out", name).Add(float64(n))
	s.m.bytes.WithLabelValues("in", name).Add(float64(len(payload)))

	body, err := decodeResponse(payload)
	if errors.Is(err, errUnknownStatus) {
		s.m.reject(reasonBadResp)
	}
	return body, err
}

// readError explains why no answer could be read.
func (s *Service) readError(ctx context.Context, rerr, werr error) error {
	if ctx.Err() != nil {
		return s.ctxError(ctx, rerr)
	}
	var ne net.Error
	switch {
	case errors.Is(rerr, errBudget):
		return fmt.Errorf("%w: local memory budget: %v", ErrOverloaded, rerr)
	case errors.Is(rerr, errFrameTooLarge), errors.Is(rerr, errMalformed):
		s.m.reject(reasonBadResp)
		return fmt.Errorf("%w: bad answer: %v", ErrRemote, rerr)
	case errors.Is(rerr, os.ErrDeadlineExceeded), errors.As(rerr, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %v", ErrTimeout, rerr)
	}
	if werr != nil {
		return fmt.Errorf("%w: send: %v; read: %v", ErrRemote, werr, rerr)
	}
	return fmt.Errorf("%w: read answer: %v", ErrRemote, rerr)
}

// ctxError explains an error seen after ctx ended: Close, the caller's
// cancellation or a deadline.
func (s *Service) ctxError(ctx context.Context, err error) error {
	switch {
	case s.ctx.Err() != nil:
		return ErrClosed
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}
