package testutil

import (
	"net"
	"strconv"
	"testing"
)

// TestFreePortBindable: the port returned can be bound, and on a kernel
// whose ephemeral range starts above pickTo it lies below that range.
func TestFreePortBindable(t *testing.T) {
	for range 20 {
		port := FreePort(t)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("port %d from FreePort: %v", port, err)
		}
		l.Close()
		if ephemeralLow() >= pickTo && (port < pickFrom || port >= pickTo) {
			t.Fatalf("port %d outside [%d, %d)", port, pickFrom, pickTo)
		}
	}
}

// TestFreePortNoRepeats: ports asked for one after another, none bound
// yet, are all different, as a test that asks for every port of several
// nodes before starting them needs.
func TestFreePortNoRepeats(t *testing.T) {
	seen := map[int]bool{}
	for range 100 {
		port := FreePort(t)
		if seen[port] {
			t.Fatalf("port %d returned twice", port)
		}
		seen[port] = true
	}
}
