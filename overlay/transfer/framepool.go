package transfer

import "sync"

// frameClassBytes is the step between the sizes of pooled frame buffers.
// A 1 MiB chunk's PUT frame (the chunk plus a header of a few dozen bytes)
// takes a buffer of 1 MiB + 256 KiB.
const frameClassBytes = 256 << 10

// framePool recycles the buffers the server reads request frames into. A
// PUT frame is a whole chunk, and a fresh buffer per chunk costs zeroing and
// garbage collection on every block a node receives. Buffers are kept in
// classes of frameClassBytes steps, so a buffer is at most that much larger
// than the frame it holds.
type framePool struct {
	classes sync.Map // class (int) -> *sync.Pool of *[]byte
}

func (p *framePool) class(n int) (*sync.Pool, int) {
	c := (n + frameClassBytes - 1) / frameClassBytes
	pool, _ := p.classes.LoadOrStore(c, &sync.Pool{})
	return pool.(*sync.Pool), c * frameClassBytes
}

// get returns a buffer of n bytes, recycled when one of its class is free.
// Its contents are whatever its last user left.
func (p *framePool) get(n int) []byte {
	pool, size := p.class(n)
	if b, ok := pool.Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, size)
}

// put gives back a buffer from get. The caller must not touch it after.
func (p *framePool) put(b []byte) {
	if cap(b)%frameClassBytes != 0 {
		return // not one of ours
	}
	pool, _ := p.class(cap(b))
	b = b[:cap(b)]
	pool.Put(&b)
}
