package block

import (
	"errors"
	"fmt"
	"io"

	"github.com/xnode/xnode"
)

// Chunk size bounds (contract: chunks of at most 1 MiB by default,
// configurable up to 4 MiB).
const (
	DefaultChunkSize = 1 << 20
	MaxChunkSize     = 4 << 20
	MinChunkSize     = 1 << 10
)

// ErrChunkSize is a chunk size outside [MinChunkSize, MaxChunkSize].
var ErrChunkSize = fmt.Errorf("block: %w: chunk size", xnode.ErrInvalidArgument)

// CheckChunkSize validates a configured chunk size.
func CheckChunkSize(n int) error {
	if n < MinChunkSize || n > MaxChunkSize {
		return fmt.Errorf("%w %d outside [%d, %d]", ErrChunkSize, n, MinChunkSize, MaxChunkSize)
	}
	return nil
}

// Chunker cuts a stream into raw blocks of a fixed size (the last one may be
// shorter). It holds one chunk in memory at a time; a Chunker is not safe for
// concurrent use.
type Chunker struct {
	r    io.Reader
	size int
	done bool
	n    uint64
}

// NewChunker returns a Chunker reading r in chunks of size bytes.
func NewChunker(r io.Reader, size int) (*Chunker, error) {
	if err := CheckChunkSize(size); err != nil {
		return nil, err
	}
	return &Chunker{r: r, size: size}, nil
}

// Next returns the next chunk, or io.EOF after the last. An empty stream
// yields no chunks. Errors from the reader are returned as they are.
func (c *Chunker) Next() (Block, error) {
	data, err := c.NextBytes()
	if err != nil {
		return Block{}, err
	}
	return NewRaw(data), nil
}

// NextBytes is Next without the hashing: it returns the next chunk's bytes,
// for a caller that hashes chunks in parallel (NewRaw) while it reads on.
func (c *Chunker) NextBytes() ([]byte, error) {
	if c.done {
		return nil, io.EOF
	}
	data, err := c.NextInto(make([]byte, c.size))
	return data[:len(data):len(data)], err
}

// NextInto is NextBytes reading into buf, which must have room for a whole
// chunk (cap(buf) >= the chunk size), so a caller can reuse buffers. The
// chunk returned is buf[:n], or nil with io.EOF after the last chunk.
func (c *Chunker) NextInto(buf []byte) ([]byte, error) {
	if c.done {
		return nil, io.EOF
	}
	if cap(buf) < c.size {
		return nil, fmt.Errorf("block: chunk buffer holds %d bytes, the chunk size is %d", cap(buf), c.size)
	}
	buf = buf[:c.size]
	n, err := io.ReadFull(c.r, buf)
	switch {
	case errors.Is(err, io.EOF):
		c.done = true
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.done = true
		buf = buf[:n]
	case err != nil:
		return nil, err
	}
	c.n += uint64(n)
	return buf, nil
}

// Bytes returns how many bytes the chunks so far hold.
func (c *Chunker) Bytes() uint64 { return c.n }
