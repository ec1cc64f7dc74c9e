package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xnode/xnode/localnet"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// freeLocalnetBase picks a base port whose n nodes' ports are free now.
func freeLocalnetBase(t *testing.T, n int) int {
	t.Helper()
	free := func(port int, udp bool) bool {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if udp {
			c, err := net.ListenPacket("udp", addr)
			if err == nil {
				c.Close()
			}
			return err == nil
		}
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
		}
		return err == nil
	}
	for range 50 {
		b := 20000 + rand.IntN(1200)*10
		ok := true
		for i := 0; i < n && ok; i++ {
			p := b + 10*i
			ok = free(p, false) && free(p+1, false) && free(p+1, true) && free(p+2, false) && free(p+3, false)
		}
		if ok {
			return b
		}
	}
	t.Fatal("no free base port")
	return 0
}

func TestLocalnetUsageErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	for _, args := range [][]string{
		{"localnet", "up", "-n", "0", "--dir", dir},
		{"localnet", "up", "-n", "1000", "--dir", dir},
		{"localnet", "up", "--base-port", "80", "--dir", dir},
		{"localnet", "up", "--timeout", "0s", "--dir", dir},
		{"localnet", "up", "--bogus"},
		{"localnet", "down", "--timeout", "-1s", "--dir", dir},
		{"localnet", "status", "extra", "--dir", dir},
	} {
		code, _, stderr := runCLI(t, args...)
		if code != 2 || stderr == "" {
			t.Fatalf("%v: exit %d (stderr %q), want 2 with a message", args, code, stderr)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("bad usage created %s", dir)
	}
}

func TestLocalnetStatusWithoutNetwork(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"status", "down"} {
		code, _, stderr := runCLI(t, "localnet", sub, "--dir", dir)
		if code != 1 || !strings.Contains(stderr, "xnode localnet up --dir "+dir) {
			t.Fatalf("localnet %s of an empty dir: exit %d, stderr %q; want 1 saying to run up", sub, code, stderr)
		}
	}
}

func TestLocalnetStatusJSONShape(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net")
	l, err := localnet.Generate(localnet.Options{N: 2, Dir: dir, BasePort: freeLocalnetBase(t, 2), Bin: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "localnet", "status", "--dir", dir, "--json")
	if code != 0 {
		t.Fatalf("status --json: exit %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatalf("status --json is not a JSON array: %v\n%s", err, stdout)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for i, r := range rows {
		var keys []string
		for k := range r {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"alive", "api", "height", "name", "peer_id", "pid"}; !slices.Equal(keys, want) {
			t.Fatalf("row keys %v, want %v", keys, want)
		}
		if r["name"] != l.Nodes[i].Name || r["peer_id"] != l.Nodes[i].PeerID || r["api"] != l.Nodes[i].API ||
			r["alive"] != false || r["pid"] != float64(0) || r["height"] != float64(0) {
			t.Fatalf("row %v does not describe a stopped %s", r, l.Nodes[i].Name)
		}
	}
	code, stdout, _ = runCLI(t, "localnet", "status", "--dir", dir)
	if code != 0 || !strings.Contains(stdout, "PEER ID") || !strings.Contains(stdout, l.Nodes[1].PeerID) {
		t.Fatalf("status table (exit %d):\n%s", code, stdout)
	}
	// The recorded network cannot be resized by a later up.
	code, _, stderr = runCLI(t, "localnet", "up", "--dir", dir, "-n", "3")
	if code != 1 || !strings.Contains(stderr, "2-node localnet") {
		t.Fatalf("up -n 3 over a 2-node localnet: exit %d, %q", code, stderr)
	}
}

func TestLocalnetUpRefusesForeignDirAndBusyPort(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mine.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "localnet", "up", "--dir", dir)
	if code != 1 || !strings.Contains(stderr, dir) || !strings.Contains(stderr, "not a localnet") {
		t.Fatalf("up into a foreign dir: exit %d, %q", code, stderr)
	}

	base := freeLocalnetBase(t, 2)
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+10))
	if err != nil {
		t.Skipf("cannot hold a port: %v", err)
	}
	defer l.Close()
	fresh := filepath.Join(t.TempDir(), "net")
	code, _, stderr = runCLI(t, "localnet", "up", "-n", "2", "--dir", fresh, "--base-port", strconv.Itoa(base))
	if code != 1 || !strings.Contains(stderr, "port "+strconv.Itoa(base+10)+" (node1 HTTP API)") || !strings.Contains(stderr, "--base-port") {
		t.Fatalf("up with a busy port: exit %d, %q", code, stderr)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Fatalf("up with a busy port wrote %s", fresh)
	}
}
