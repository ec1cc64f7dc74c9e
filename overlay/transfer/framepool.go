package transfer

import "sync"

// frameClassBytes is the step between the sizes of pooled frame buffers.
// A 1 MiB chunk's PUT frame (the chunk plus a header of a few dozen bytes)
// takes a buffer of 1 MiB + 256 KiB.
const frameClassBytes = 256 << 10

// frameClasses is how many classes there are: Config.Validate caps
// MaxFrameBytes at 64 MiB.
const frameClasses = 64 << 20 / frameClassBytes

// framePool recycles the buffers the server reads request frames into. A
// PUT frame is a whole chunk, and a fresh buffer per chunk costs zeroing and
// garbage collection on every block a node receives. Buffers are kept in
// classes of frameClassBytes steps, so a buffer is at most that much larger
// than the frame it holds. The zero value is ready; it must not be copied.
// A nil *framePool allocates every buffer and keeps none.
type framePool struct {
	classes [frameClasses + 1]sync.Pool // class c holds *[]byte of cap c*frameClassBytes
}

// class is the class of a buffer of n bytes; over frameClasses, none.
func class(n int) (c int, ok bool) {
	c = (n + frameClassBytes - 1) / frameClassBytes
	return c, c <= frameClasses
}

// get returns a buffer of n bytes, recycled when one of its class is free.
// Its contents are whatever its last user left.
func (p *framePool) get(n int) []byte {
	c, ok := class(n)
	if p == nil || !ok {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, c*frameClassBytes)
}

// put gives back a buffer from get. The caller must not touch it after.
func (p *framePool) put(b []byte) {
	c, ok := class(cap(b))
	if p == nil || !ok || cap(b) != c*frameClassBytes {
		return // not one of ours
	}
	b = b[:cap(b)]
	p.classes[c].Put(&b)
}
