package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ErrServerClosed is returned by Start on a server that was shut down.
var ErrServerClosed = errors.New("api: server closed")

// Server is the HTTP API server. New builds it, Start listens and serves,
// Shutdown drains, Close aborts. All methods are safe for concurrent use.
type Server struct {
	cfg      Config
	node     Node
	log      *slog.Logger
	metrics  *metrics
	mux      *http.ServeMux
	inFlight chan struct{} // a slot per request being served

	mu        sync.Mutex
	srv       *http.Server
	ln        net.Listener
	cancel    context.CancelFunc // cancels every request's context
	closed    bool               // Shutdown or Close was called
	stopping  bool               // the stop sequence has begun
	stopped   chan struct{}      // closed when the stop sequence is over
	serveDone chan struct{}      // closed when Serve returns
	serveErr  error
}

// New builds a server for node. It registers its metrics on reg and serves
// gatherer's metrics on /metrics; it starts nothing.
func New(cfg Config, node Node, gatherer prometheus.Gatherer, reg prometheus.Registerer, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if node == nil {
		return nil, errors.New("api: nil node")
	}
	if gatherer == nil || reg == nil {
		return nil, errors.New("api: nil prometheus gatherer or registerer")
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		node:     node,
		log:      log,
		metrics:  m,
		mux:      http.NewServeMux(),
		inFlight: make(chan struct{}, cfg.MaxInFlight),
		stopped:  make(chan struct{}),
	}
	s.routes(promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return s, nil
}

// routes registers every endpoint. Patterns double as the metrics' route
// label, which keeps its cardinality bounded. A GET pattern also serves HEAD.
func (s *Server) routes(metricsHandler http.Handler) {
	s.mux.HandleFunc("GET /health/live", s.handleLive)
	s.mux.Handle("GET /health/ready", s.bounded(s.handleReady))
	s.mux.Handle("GET /metrics", metricsHandler)
	s.mux.Handle("GET /v1/status", s.bounded(s.handleStatus))
	s.mux.Handle("GET /v1/members", s.bounded(s.handleMembers))
	s.mux.HandleFunc("POST /v1/blobs", s.handlePutBlob)
	s.mux.HandleFunc("GET /v1/blobs/{cid}", s.handleGetBlob)
	s.mux.HandleFunc("GET /ipfs/{cid}", s.handleGateway)
	s.mux.HandleFunc("POST /v1/car", s.handleImportCAR)
	s.mux.Handle("GET /v1/locate/{cid}", s.bounded(s.handleLocate))
	s.mux.Handle("POST /v1/namespaces", s.bounded(s.handleRegisterNamespace))
	s.mux.Handle("POST /v1/records", s.bounded(s.handleSubmitRecord))
	s.mux.Handle("GET /v1/records/{namespace}/{key...}", s.bounded(s.handleRecord))
	s.mux.Handle("POST /v1/txs", s.bounded(s.handleRelayTx))
	s.mux.Handle("GET /v1/txs/{hash}", s.bounded(s.handleTx))
	s.mux.Handle("GET /v1/accounts/{address}", s.bounded(s.handleAccount))
	s.mux.Handle("GET /v1/validators", s.bounded(s.handleValidators))
	s.mux.Handle("GET /v1/services", s.bounded(s.handleServices))
	s.mux.Handle("GET /v1/services/{namespace}/{service}", s.bounded(s.handleServiceInstances))
	s.mux.Handle("POST /v1/services/expose", s.bounded(s.handleExpose))
	s.mux.Handle("POST /v1/services/unexpose", s.bounded(s.handleUnexpose))
	s.mux.Handle("POST /v1/services/forward", s.bounded(s.handleForward))
	s.mux.Handle("POST /v1/services/forward/close", s.bounded(s.handleCloseForward))
	s.mux.HandleFunc("/v1/svc/{namespace}/{service}/{path...}", s.handleServiceCall)
}

// unlimited lists the routes that do not count against MaxInFlight, so that
// probes and scrapes still answer while the node sheds load.
var unlimited = map[string]bool{
	"GET /health/live":  true,
	"GET /health/ready": true,
	"GET /metrics":      true,
}

// Handler returns the server's root handler (request id, metrics, recovery,
// load shedding, routing), for embedding or for tests.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Start binds the listener and serves in a goroutine. It returns once the
// listener is bound, so Addr is valid. ctx bounds only the bind and carries
// its values (not its cancellation) into every request's context: stop the
// server with Shutdown or Close.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.srv != nil {
		return errors.New("api: server already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("api: listen %s: %w", s.cfg.Listen, err)
	}
	base, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.ln, s.cancel = ln, cancel
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	s.serveDone = make(chan struct{})
	go s.serve(s.srv, ln)
	s.log.Info("api listening", "addr", ln.Addr().String())
	return nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	defer close(s.serveDone)
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return
	}
	s.log.Error("api serve failed", "err", err)
	s.mu.Lock()
	s.serveErr = fmt.Errorf("api: serve: %w", err)
	s.mu.Unlock()
}

// Addr is the bound listen address (host:port), or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server gracefully, in this order:
//
//  1. the listener closes, so new connections are refused;
//  2. idle keep-alive connections close;
//  3. in-flight requests run to completion, for at most
//     Config.ShutdownTimeout or until ctx ends, whichever comes first;
//  4. past that bound, the requests' contexts are cancelled and their
//     connections closed, and Shutdown reports the deadline;
//  5. Shutdown waits for the serving goroutine to exit.
//
// Shutdown is idempotent: later calls wait for the first one (or their own
// ctx) and return nil, the first call having reported the outcome. Start
// after Shutdown returns ErrServerClosed.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.stop(ctx, false)
}

// Close stops the server at once: the listener and every connection close
// and in-flight requests' contexts are cancelled. It is idempotent and may
// cut short a Shutdown in progress.
func (s *Server) Close() error {
	return s.stop(context.Background(), true)
}

func (s *Server) stop(ctx context.Context, force bool) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	if srv == nil { // never started: nothing to drain
		s.mu.Unlock()
		return nil
	}
	first := !s.stopping
	s.stopping = true
	s.mu.Unlock()

	if force {
		s.cancel()
		_ = srv.Close() // also makes a running graceful Shutdown return
	}
	if !first {
		select {
		case <-s.stopped:
			return nil // the first call reported the outcome
		case <-ctx.Done():
			return fmt.Errorf("api: shutdown: %w", ctx.Err())
		}
	}

	var errs []error
	dctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	if err := srv.Shutdown(dctx); err != nil {
		s.log.Warn("api shutdown: aborting in-flight requests", "err", err)
		errs = append(errs, fmt.Errorf("api: shutdown: %w", err))
		s.cancel()
		_ = srv.Close()
	}
	cancel()
	<-s.serveDone
	s.cancel()
	s.mu.Lock()
	errs = append(errs, s.serveErr)
	s.mu.Unlock()
	close(s.stopped)
	return errors.Join(errs...)
}
