package p2p

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	libp2phttp "github.com/libp2p/go-libp2p/p2p/http"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/service"
)

// MaxReplayBody is the largest request body kept for a retry; a larger
// body is retried only when no byte of it reached a target.
const MaxReplayBody = 1 << 20

// hopHeaders are not forwarded (RFC 9110 §7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// Call is the gateway: it forwards r (method, headers, body, query) to an
// instance of svc at path and streams the answer into w. Errors before
// any byte of the answer was written are returned (wrapping
// xnode.ErrNotFound for an unknown service, ErrUnavailable for no healthy
// instance, ErrTimeout for a target that did not answer within the
// deadline, ErrInvalidArgument for bad input); an answer that breaks once
// started aborts the response (panic http.ErrAbortHandler) so the caller
// never takes a truncated answer for a complete one.
func (p *Plane) Call(w http.ResponseWriter, r *http.Request, svc, path string) error {
	if _, _, err := service.ParseName(svc); err != nil {
		return mapErr(err)
	}
	tags, err := service.ParseTags(r.Header.Get(HeaderTags))
	if err != nil {
		return fmt.Errorf("service: header %s: %w: %w", HeaderTags, xnode.ErrInvalidArgument, err)
	}
	timeout := p.cfg.CallTimeout
	if v := r.Header.Get(HeaderTimeout); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 {
			return fmt.Errorf("service: header %s %q: want milliseconds: %w", HeaderTimeout, v, xnode.ErrInvalidArgument)
		}
		timeout = min(timeout, time.Duration(ms)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	// A small body of an idempotent request is kept so a retry can send
	// it again.
	var replay []byte
	replayable := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	if !replayable && idempotent(r.Method) && r.ContentLength > 0 && r.ContentLength <= MaxReplayBody {
		replay, err = io.ReadAll(io.LimitReader(r.Body, MaxReplayBody+1))
		if err != nil {
			return fmt.Errorf("service: read request body: %w: %w", xnode.ErrInvalidArgument, err)
		}
		replayable = true
	}
	retryAny := idempotent(r.Method) && replayable

	end := p.budget.Begin()
	defer end()
	tried := map[string]bool{}
	var lastErr error
	timedOut := false
	for attempt := range p.cfg.MaxAttempts {
		if attempt > 0 {
			release, ok := p.budget.Retry()
			if !ok {
				break
			}
			defer release()
			p.m.retries.WithLabelValues(svc).Inc()
		}
		in, done, err := p.cat.Pick(time.Now(), svc, service.Filter{Tags: tags, Zone: p.cfg.Zone, Exclude: tried})
		if err != nil {
			if lastErr == nil {
				return mapErr(err)
			}
			break
		}
		tried[in.Key()] = true
		label := instanceLabel(in)
		if in.Proto != service.ProtoHTTP {
			done(service.Cancelled, 0)
			return fmt.Errorf("service: %s is a tcp service: reach it with `xnode service forward`: %w", svc, xnode.ErrInvalidArgument)
		}
		var body io.Reader = r.Body
		if replay != nil {
			body = bytes.NewReader(replay)
		}
		start := time.Now()
		resp, sent, err := p.roundTrip(ctx, in, r, svc, path, body)
		lat := time.Since(start)
		if err != nil {
			if r.Context().Err() != nil {
				done(service.Cancelled, lat)
				return r.Context().Err()
			}
			done(service.Failure, lat)
			if ctx.Err() != nil || isTimeout(err) {
				p.m.requests.WithLabelValues(svc, label, "timeout").Inc()
				return fmt.Errorf("service: %s: no answer within %v: %w", svc, timeout, xnode.ErrTimeout)
			}
			p.m.requests.WithLabelValues(svc, label, "error").Inc()
			lastErr = err
			if !sent || retryAny {
				continue
			}
			return fmt.Errorf("service: %s: %w: %v", svc, xnode.ErrUnavailable, err)
		}
		p.m.latency.WithLabelValues(svc, label).Observe(lat.Seconds())
		if resp.StatusCode >= 500 && retryAny && attempt+1 < p.cfg.MaxAttempts {
			// A 504 is the instance's side giving up at the deadline.
			timedOut = timedOut || resp.StatusCode == http.StatusGatewayTimeout
			resp.Body.Close()
			done(service.Failure, lat)
			p.m.requests.WithLabelValues(svc, label, strconv.Itoa(resp.StatusCode)).Inc()
			lastErr = fmt.Errorf("instance %s answered %s", in.Key(), resp.Status)
			continue
		}
		p.stream(w, resp, done, start, svc, label)
		return nil
	}
	if (timedOut || ctx.Err() != nil) && r.Context().Err() == nil {
		return fmt.Errorf("service: %s: no answer within %v: %w", svc, timeout, xnode.ErrTimeout)
	}
	return fmt.Errorf("service: %s: %w: every attempt failed: %v", svc, xnode.ErrUnavailable, lastErr)
}

// stream writes resp into w; a body that breaks aborts w.
func (p *Plane) stream(w http.ResponseWriter, resp *http.Response, done service.Done, start time.Time, svc, label string) {
	defer resp.Body.Close()
	h := w.Header()
	for k, vs := range resp.Header {
		h[k] = vs
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				done(service.Cancelled, time.Since(start))
				panic(http.ErrAbortHandler)
			}
			_ = rc.Flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			done(service.Failure, time.Since(start))
			p.m.requests.WithLabelValues(svc, label, "reset").Inc()
			panic(http.ErrAbortHandler)
		}
	}
	o := service.Success
	if resp.StatusCode >= 500 {
		o = service.Failure
	}
	done(o, time.Since(start))
	p.m.requests.WithLabelValues(svc, label, strconv.Itoa(resp.StatusCode)).Inc()
}

// roundTrip sends one attempt to in. sent reports whether any byte may
// have reached the target (false only when no stream or connection could
// be opened).
func (p *Plane) roundTrip(ctx context.Context, in service.Instance, r *http.Request, svc, path string, body io.Reader) (*http.Response, bool, error) {
	pid, err := peer.Decode(in.Peer)
	if err != nil {
		return nil, false, fmt.Errorf("instance peer %q: %w", in.Peer, err)
	}
	out := r.Clone(ctx)
	out.RequestURI = ""
	out.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	out.Header.Del(HeaderTags)
	out.Header.Del(HeaderCaller)
	if dl, ok := ctx.Deadline(); ok {
		out.Header.Set(HeaderTimeout, strconv.FormatInt(max(1, time.Until(dl).Milliseconds()), 10))
	}
	out.Body = io.NopCloser(body)
	if body == nil || body == http.NoBody {
		out.Body = http.NoBody
	}
	out.Close = true
	if pid == p.h.ID() {
		// This node's own instance: straight to the target.
		x := p.lookup(svc)
		if x == nil {
			return nil, false, fmt.Errorf("instance %s is no longer exposed here", in.Key())
		}
		out.URL.Scheme, out.URL.Host, out.URL.Path, out.URL.RawPath, out.Host = "http", x.Target, "/"+path, "", x.Target
		out.Header.Set(HeaderCaller, p.h.ID().String())
		resp, err := p.direct.RoundTrip(out)
		if err != nil {
			var op *net.OpError
			return nil, !(errors.As(err, &op) && op.Op == "dial"), err
		}
		return resp, true, nil
	}
	out.URL.Scheme, out.URL.Host, out.URL.Path, out.URL.RawPath, out.Host = "", "", HTTPPath+svc+"/"+path, "", pid.String()
	s, err := p.h.NewStream(ctx, pid, libp2phttp.ProtocolIDForMultistreamSelect)
	if err != nil {
		return nil, false, err
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	out.Header.Set("Connection", "close")
	werr := make(chan error, 1)
	go func() {
		err := out.Write(s)
		if err == nil {
			err = s.CloseWrite()
		}
		werr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(s), out)
	if err != nil {
		stop()
		_ = s.Reset()
		return nil, true, err
	}
	resp.Body = &streamBody{ReadCloser: resp.Body, s: s, stop: stop}
	return resp, true, nil
}

// streamBody closes the stream with the body.
type streamBody struct {
	io.ReadCloser
	s interface {
		Close() error
		Reset() error
	}
	stop func() bool
}

func (b *streamBody) Close() error {
	b.stop()
	err := b.ReadCloser.Close()
	_ = b.s.Close()
	return err
}

// isTimeout reports a deadline error of a stream or connection.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
