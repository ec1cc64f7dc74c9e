package p2p

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/service"
)

// Forwarding is one local port tunnelled to a service.
type Forwarding struct {
	Service string            `json:"service"`
	Listen  string            `json:"listen"`
	Tags    map[string]string `json:"tags,omitempty"`
}

type forward struct {
	Forwarding
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

func (f *forward) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// Forward listens on listen (HOST:PORT; port 0 picks one) and tunnels
// every connection to an instance of svc. It returns the bound address at
// once.
func (p *Plane) Forward(_ context.Context, svc, listen string, tags map[string]string) (Forwarding, error) {
	if _, _, err := service.ParseName(svc); err != nil {
		return Forwarding{}, mapErr(err)
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return Forwarding{}, fmt.Errorf("service: listen %q: want HOST:PORT: %w", listen, xnode.ErrInvalidArgument)
	}
	p.mu.Lock()
	running := p.running
	p.mu.Unlock()
	if !running {
		return Forwarding{}, fmt.Errorf("service: plane not running: %w", xnode.ErrUnavailable)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return Forwarding{}, fmt.Errorf("service: forward %s: %w: %v", listen, xnode.ErrConflict, err)
	}
	f := &forward{Forwarding: Forwarding{Service: svc, Listen: ln.Addr().String(), Tags: tags}, ln: ln, conns: map[net.Conn]struct{}{}}
	p.mu.Lock()
	if !p.running {
		p.mu.Unlock()
		ln.Close()
		return Forwarding{}, fmt.Errorf("service: plane not running: %w", xnode.ErrUnavailable)
	}
	p.forwards[f.Listen] = f
	p.mu.Unlock()
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns[c] = struct{}{}
			f.mu.Unlock()
			f.wg.Go(func() {
				p.tunnel(c.(*net.TCPConn), svc, tags)
				f.mu.Lock()
				delete(f.conns, c)
				f.mu.Unlock()
			})
		}
	})
	p.log.Info("forwarding", "service", svc, "listen", f.Listen)
	return f.Forwarding, nil
}

// CloseForward stops the forwarding on listen (as returned by Forward).
func (p *Plane) CloseForward(_ context.Context, listen string) error {
	p.mu.Lock()
	f, ok := p.forwards[listen]
	delete(p.forwards, listen)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("service: no forwarding on %s: %w", listen, xnode.ErrNotFound)
	}
	f.close()
	return nil
}

// Forwards lists the forwardings.
func (p *Plane) Forwards() []Forwarding {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Forwarding, 0, len(p.forwards))
	for _, f := range p.forwards {
		out = append(out, f.Forwarding)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Listen < out[j].Listen })
	return out
}

// tunnel connects c to an instance, trying others when one cannot be
// reached (nothing was sent yet).
func (p *Plane) tunnel(c *net.TCPConn, svc string, tags map[string]string) {
	tried := map[string]bool{}
	for range p.cfg.MaxAttempts {
		in, done, err := p.cat.Pick(time.Now(), svc, service.Filter{Tags: tags, Zone: p.cfg.Zone, Exclude: tried})
		if err != nil {
			break
		}
		tried[in.Key()] = true
		start := time.Now()
		other, err := p.dialInstance(in, svc)
		if err != nil {
			done(service.Failure, time.Since(start))
			p.log.Debug("tunnel attempt failed", "service", svc, "instance", in.Key(), "err", err)
			continue
		}
		done(service.Success, time.Since(start))
		pipe(c, other)
		return
	}
	_ = c.Close()
}

func (p *Plane) dialInstance(in service.Instance, svc string) (halfCloser, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pid, err := peer.Decode(in.Peer)
	if err != nil {
		return nil, err
	}
	if pid == p.h.ID() {
		x := p.lookup(svc)
		if x == nil {
			return nil, fmt.Errorf("no longer exposed here")
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", x.Target)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
	s, err := p.h.NewStream(ctx, pid, TCPProtocol)
	if err != nil {
		return nil, err
	}
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(s, svc+"\n"); err != nil {
		_ = s.Reset()
		return nil, err
	}
	br := bufio.NewReaderSize(s, maxTCPHeader)
	line, err := br.ReadSlice('\n')
	if err != nil {
		_ = s.Reset()
		return nil, err
	}
	if ans := strings.TrimSpace(string(line)); ans != "OK" {
		_ = s.Reset()
		return nil, fmt.Errorf("instance refused: %s", ans)
	}
	_ = s.SetDeadline(time.Time{})
	return &bufferedStream{Stream: s, r: br}, nil
}

var _ network.Stream = (*bufferedStream)(nil)
