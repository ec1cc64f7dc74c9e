package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vmRSS reads a process's resident set size in bytes.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// BenchmarkIdleRSS runs `xnode start` as a process on a fresh home (a
// single-node dev network: libp2p host, badger stores, embedded CometBFT,
// gossip, DHT and API), lets it idle for 20 s after it is ready, and reports
// its resident memory.
func BenchmarkIdleRSS(b *testing.B) {
	bin := binary(b)
	for i := 0; i < b.N; i++ {
		p := spawn(b, bin, filepath.Join(b.TempDir(), "home"), "start")
		<-time.After(20 * time.Second)
		rss, err := vmRSS(p.cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rss)/(1<<20), "idle-rss-MiB")
	}
}
