package promreg

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func counter(name string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: name})
}

// TestRegisterAllOrNone registers a set whose last collector clashes with one
// already there: Register fails and leaves none of the set behind, so the
// set without the clash registers afterwards.
func TestRegisterAllOrNone(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := Register(reg, counter("taken")); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg, counter("a"), counter("b"), counter("taken")); err == nil {
		t.Fatal("registered a collector whose name is taken")
	}
	if err := Register(reg, counter("a"), counter("b")); err != nil {
		t.Fatalf("the failed call left collectors registered: %v", err)
	}
	if err := Register(nil, counter("a")); err != nil {
		t.Fatalf("nil registry: %v", err)
	}
}
