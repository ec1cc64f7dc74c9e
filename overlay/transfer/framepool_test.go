package transfer

import (
	"bytes"
	"io"
	"testing"
)

func TestFramePoolSizes(t *testing.T) {
	var p framePool
	for _, n := range []int{1, probeBytes, frameClassBytes, frameClassBytes + 1, 1<<20 + 40, 4<<20 + 64<<10} {
		b := p.get(n)
		if len(b) != n {
			t.Fatalf("get(%d): len %d", n, len(b))
		}
		if c := cap(b); c%frameClassBytes != 0 || c < n || c-n >= frameClassBytes {
			t.Fatalf("get(%d): cap %d, want the next multiple of %d", n, c, frameClassBytes)
		}
		p.put(b)
	}
	p.put(make([]byte, 100)) // not from the pool: ignored, not kept
	if b := p.get(100); cap(b) != frameClassBytes {
		t.Fatalf("get(100) after a foreign put: cap %d", cap(b))
	}
}

// TestPooledFrameBodyReuse reads frames into recycled buffers and checks
// each holds exactly its own bytes, whatever the buffer held before.
func TestPooledFrameBodyReuse(t *testing.T) {
	var p framePool
	for i, n := range []int{1<<20 + 7, 1<<20 + 100, 100, 90, 3 << 20} {
		want := bytes.Repeat([]byte{byte(i + 1)}, n)
		got, err := readFrameBody(bytes.NewReader(want), n, &p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d (%d bytes) read back wrong", i, n)
		}
		p.put(got)
	}
	// A short body reports the truncation.
	if _, err := readFrameBody(bytes.NewReader(make([]byte, 10)), 1<<20, &p); err != io.ErrUnexpectedEOF {
		t.Fatalf("short body: %v", err)
	}
}
