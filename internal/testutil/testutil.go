package testutil

import (
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// Eventually polls cond every tick until it returns true or timeout passes,
// then fails the test with msg. It waits on a ticker, not a sleep, so a
// condition that becomes true early ends the wait early.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	if !WaitFor(timeout, cond) {
		tb.Fatalf("condition not met within %s: "+msg, append([]any{timeout}, args...)...)
	}
}

// WaitFor polls cond until it returns true (reporting true) or timeout passes
// (reporting false).
func WaitFor(timeout time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Logger returns a logger for tests: silent unless XNODE_TEST_LOG is set,
// in which case it writes debug text to stderr tagged with name.
func Logger(name string) *slog.Logger {
	if os.Getenv("XNODE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}
