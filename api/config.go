package api

import (
	"fmt"
	"net"
	"time"
)

// Config configures the HTTP API server. Build it from DefaultConfig and
// change what you need.
type Config struct {
	// Listen is the TCP host:port to listen on. Default "127.0.0.1:8080";
	// port 0 picks a free port (read it back with Server.Addr).
	Listen string
	// MaxBodyBytes caps a blob upload (POST /v1/blobs), in bytes. A larger
	// body fails with 413 TOO_LARGE and nothing is acknowledged; a declared
	// Content-Length over it is rejected before any body is read.
	// Default 64 GiB.
	MaxBodyBytes int64
	// MaxJSONBytes caps a JSON request body, and the raw transaction of
	// POST /v1/txs, in bytes. Default 64 KiB (the chain's own limit on a
	// transaction is lower; it answers 413 TOO_LARGE as well).
	MaxJSONBytes int64
	// MaxInFlight is how many requests are served at once; one more is
	// answered 503 OVERLOADED with Retry-After: 1. Health and metrics
	// requests are not counted, so probes still work under load.
	// Default 256.
	MaxInFlight int
	// ReadHeaderTimeout bounds reading a request's headers (slowloris).
	// Default 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may sit idle.
	// Default 120 s.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds how long Shutdown waits for in-flight requests
	// before it aborts them. Default 30 s.
	ShutdownTimeout time.Duration
	// RequestTimeout bounds every non-streaming call (status, members,
	// locate, namespaces, records, readiness); past it the answer is
	// 504 TIMEOUT. Blob uploads and downloads stream and have no overall
	// deadline. Default 60 s.
	RequestTimeout time.Duration
	// CommitWait bounds how long a request that submits a transaction
	// (POST /v1/namespaces, /v1/records, /v1/txs) waits for its commit.
	// Past it the answer is 202 Accepted with {"tx","status":"pending"}:
	// the transaction may still commit; GET /v1/txs/{tx} tells its fate.
	// Default 10 s.
	CommitWait time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:8080",
		MaxBodyBytes:      64 << 30,
		MaxJSONBytes:      64 << 10,
		MaxInFlight:       256,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   30 * time.Second,
		RequestTimeout:    60 * time.Second,
		CommitWait:        10 * time.Second,
	}
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		return fmt.Errorf("api: config: Listen %q: want host:port", c.Listen)
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBodyBytes", c.MaxBodyBytes},
		{"MaxJSONBytes", c.MaxJSONBytes},
		{"MaxInFlight", int64(c.MaxInFlight)},
	} {
		if f.v <= 0 {
			return fmt.Errorf("api: config: %s %d: must be positive", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    time.Duration
	}{
		{"ReadHeaderTimeout", c.ReadHeaderTimeout},
		{"IdleTimeout", c.IdleTimeout},
		{"ShutdownTimeout", c.ShutdownTimeout},
		{"RequestTimeout", c.RequestTimeout},
		{"CommitWait", c.CommitWait},
	} {
		if f.v <= 0 {
			return fmt.Errorf("api: config: %s %s: must be positive", f.name, f.v)
		}
	}
	return nil
}
