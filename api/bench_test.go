package api

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkGetBlob measures streaming a 16 MiB blob through the server and
// the client over loopback.
func BenchmarkGetBlob(b *testing.B) {
	h := newHarness(b, nil)
	data := randomBytes(16<<20, 1)
	c := h.node.addBlob(data)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.client.Get(b.Context(), c, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutBlob measures a 16 MiB chunked upload into the fake node.
func BenchmarkPutBlob(b *testing.B) {
	h := newHarness(b, nil)
	data := randomBytes(16<<20, 2)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.client.Put(b.Context(), opaque{bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStatus measures one small JSON call end to end: the middleware
// chain's overhead plus loopback HTTP.
func BenchmarkStatus(b *testing.B) {
	h := newHarness(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.client.Status(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
