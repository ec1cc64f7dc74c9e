package testutil

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
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
//
// Callers bind the port only later, often after asking for several more
// (every port of a node, of several nodes), so FreePort must not hand out
// one twice, nor one another test process is about to bind. It walks a
// window of the range [pickFrom, pickTo) in turn: each process has its own
// window, chosen by its pid, and never returns a port of it twice before it
// has used the whole window. The range lies below the kernel's ephemeral
// range, from which any outgoing connection in the process (a libp2p dial,
// say) takes its local port in the meantime. When the ephemeral range starts
// lower than pickTo, the kernel picks.
func FreePort(tb testing.TB) int {
	tb.Helper()
	if ephemeralLow() >= pickTo {
		base := pickFrom + os.Getpid()%portWindows*portWindow
		for range portWindow {
			port := base + int(nextPort.Add(1)-1)%portWindow
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
				l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The range FreePort picks from: above the well-known and registered ports
// services usually take, below the ports local networks of processes use
// (localnet: 27000 to 31999) and the ephemeral range (usually 32768 up). It
// is cut into portWindows windows of portWindow ports, one per process.
const (
	pickFrom, pickTo = 12000, 27000
	portWindows      = 60
	portWindow       = (pickTo - pickFrom) / portWindows
)

// nextPort is how far FreePort has walked this process's window.
var nextPort atomic.Int64

// ephemeralLow is the first port of the kernel's ephemeral range, or 0 when
// it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0
	}
	return low
}

// Logger returns a logger for tests: silent unless XNODE_TEST_LOG is set,
// in which case it writes debug text to stderr tagged with name.
func Logger(name string) *slog.Logger {
	if os.Getenv("XNODE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("moniker", name)
}

// PeerID returns the peer id of a fresh Ed25519 key.
func PeerID(tb testing.TB) peer.ID {
	tb.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		tb.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
