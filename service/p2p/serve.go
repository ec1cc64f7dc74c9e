package p2p

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	libp2phttp "github.com/libp2p/go-libp2p/p2p/http"
)

// lookup returns the local exposure of svc.
func (p *Plane) lookup(svc string) *exposed {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exposed[svc]
}

// serveHTTP serves a call from another node to a local HTTP target. The
// path (after HTTPPath) is NAMESPACE/SERVICE/<target path>.
func (p *Plane) serveHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/")
	ns, after, _ := strings.Cut(rest, "/")
	name, tail, _ := strings.Cut(after, "/")
	svc := ns + "/" + name
	x := p.lookup(svc)
	if x == nil || x.Proto != "http" {
		http.Error(w, "xnode: no such http service on this node: "+svc, http.StatusNotFound)
		return
	}
	select {
	case x.sem <- struct{}{}:
		defer func() { <-x.sem }()
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "xnode: instance overloaded", http.StatusServiceUnavailable)
		return
	}
	ctx := r.Context()
	if ms, err := strconv.ParseInt(r.Header.Get(HeaderTimeout), 10, 64); err == nil && ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	caller := libp2phttp.ClientPeerID(r)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = x.Target
			pr.Out.URL.Path = "/" + tail
			pr.Out.URL.RawPath = ""
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = x.Target
			pr.Out.Header.Del(HeaderTimeout)
			pr.Out.Header.Set(HeaderCaller, caller.String())
		},
		Transport:     p.direct,
		FlushInterval: -1,
		ErrorLog:      nil,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.DeadlineExceeded) {
				http.Error(w, "xnode: target timed out", http.StatusGatewayTimeout)
				return
			}
			http.Error(w, "xnode: target unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r.WithContext(ctx))
}

// maxTCPHeader bounds the request line of a tunnel.
const maxTCPHeader = 256

// serveTCP serves a tunnel: the first line names the service; the answer
// is "OK" or "ERR <why>"; then bytes flow both ways.
func (p *Plane) serveTCP(s network.Stream) {
	_ = s.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(s, maxTCPHeader)
	line, err := br.ReadSlice('\n')
	if err != nil {
		_ = s.Reset()
		return
	}
	svc := strings.TrimSpace(string(line))
	x := p.lookup(svc)
	if x == nil {
		_, _ = io.WriteString(s, "ERR no such service on this node\n")
		_ = s.Close()
		return
	}
	select {
	case x.sem <- struct{}{}:
		defer func() { <-x.sem }()
	default:
		_, _ = io.WriteString(s, "ERR overloaded\n")
		_ = s.Close()
		return
	}
	var d net.Dialer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := d.DialContext(ctx, "tcp", x.Target)
	cancel()
	if err != nil {
		_, _ = io.WriteString(s, "ERR target unreachable\n")
		_ = s.Close()
		return
	}
	_ = s.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(s, "OK\n"); err != nil {
		c.Close()
		_ = s.Reset()
		return
	}
	pipe(c.(*net.TCPConn), &bufferedStream{Stream: s, r: br})
}

type bufferedStream struct {
	network.Stream
	r *bufio.Reader
}

func (b *bufferedStream) Read(p []byte) (int, error) { return b.r.Read(p) }

// halfCloser is a connection that can close its write side.
type halfCloser interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// pipe copies both ways until both directions end, then closes both.
func pipe(a, b halfCloser) {
	done := make(chan struct{}, 2)
	cp := func(dst, src halfCloser) {
		_, err := io.Copy(dst, src)
		if err != nil {
			// A broken side breaks the other: reset rather than a clean
			// end the peer would take for a complete answer.
			for _, c := range []halfCloser{a, b} {
				switch c := c.(type) {
				case *net.TCPConn:
					_ = c.SetLinger(0)
				case network.Stream:
					_ = c.Reset()
				}
			}
			_ = a.Close()
			_ = b.Close()
		} else {
			_ = dst.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	<-done
	_ = a.Close()
	_ = b.Close()
}

// tcpConn adapts *net.TCPConn to halfCloser (it already is one).
var _ halfCloser = (*net.TCPConn)(nil)
