//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// summary collects the figures of a run, in the order keys were declared,
// so a scenario that never ran still shows up as "not reached".
type summary struct {
	mu    sync.Mutex
	order []string
	vals  map[string]string
	ints  map[string]int
	fails []string
	// title and pass replace the fault suite's heading and PASS line for
	// another test's summary; appendEnv appends to $XNODE_E2E_SUMMARY
	// instead of replacing it, so that one file holds every test's block.
	title, pass string
	appendEnv   bool
}

func newSummary(keys ...string) *summary {
	s := &summary{vals: map[string]string{}, ints: map[string]int{}}
	for _, k := range keys {
		s.declare(k)
	}
	return s
}

func (s *summary) declare(key string) {
	for _, k := range s.order {
		if k == key {
			return
		}
	}
	s.order = append(s.order, key)
}

// set records a formatted value under key.
func (s *summary) set(key, format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.declare(key)
	s.vals[key] = fmt.Sprintf(format, args...)
}

// add adds n to the counter key.
func (s *summary) add(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.declare(key)
	s.ints[key] += n
}

func (s *summary) get(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ints[key]
}

// fail records a reason the run failed (the test is failed separately).
func (s *summary) fail(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, fmt.Sprintf(format, args...))
}

func (s *summary) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	title := "xnode e2e fault suite: summary"
	if s.title != "" {
		title = s.title
	}
	fmt.Fprintf(&b, "==== %s ====\n", title)
	width := 0
	for _, k := range s.order {
		width = max(width, len(k))
	}
	for _, k := range s.order {
		v, ok := s.vals[k]
		if n, isInt := s.ints[k]; isInt {
			v = fmt.Sprint(n)
			if sv, ok2 := s.vals[k]; ok2 {
				v += " " + sv
			}
			ok = true
		}
		if !ok {
			v = "not reached"
		}
		fmt.Fprintf(&b, "%-*s  %s\n", width, k, v)
	}
	if len(s.fails) == 0 {
		pass := "RESULT: PASS: nothing acknowledged was lost"
		if s.pass != "" {
			pass = s.pass
		}
		b.WriteString(pass + "\n")
	} else {
		b.WriteString("RESULT: FAIL\n")
		for _, f := range s.fails {
			fmt.Fprintf(&b, "  - %s\n", f)
		}
	}
	return b.String()
}

// write logs the summary line by line, prints it to stdout and writes it
// to dir/e2e-summary.txt and to $XNODE_E2E_SUMMARY when set (appended to
// it when appendEnv).
func (s *summary) write(t *testing.T, dir string) {
	txt := s.text()
	for _, line := range strings.Split(strings.TrimRight(txt, "\n"), "\n") {
		t.Log(line)
	}
	fmt.Println(txt)
	paths := []string{filepath.Join(dir, "e2e-summary.txt")}
	if p := os.Getenv("XNODE_E2E_SUMMARY"); p != "" {
		paths = append(paths, p)
	}
	for i, p := range paths {
		var err error
		if i > 0 && s.appendEnv {
			err = appendFile(p, []byte(txt))
		} else {
			err = os.WriteFile(p, []byte(txt), 0o644)
		}
		if err != nil {
			t.Errorf("write summary: %v", err)
		} else {
			t.Logf("summary written to %s", p)
		}
	}
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
