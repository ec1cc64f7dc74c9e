package storage

import (
	"bytes"
	"os"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
)

// FuzzWalkSegment feeds arbitrary bytes to the segment walk that
// `xnode storage reindex` runs over files a crash or a bad disk may have
// damaged anywhere. It must never panic or fail, must account for every
// record start it meets, and may hand on only records whose bytes hash to
// their CID and lie inside the segment. The seeds are a real segment, cut
// and flipped.
func FuzzWalkSegment(f *testing.F) {
	img := fuzzSegmentImage(f)
	f.Add(img)
	f.Add(img[:len(img)/2])
	flipped := bytes.Clone(img)
	flipped[len(flipped)/3] ^= 0xff
	f.Add(flipped)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, seg []byte) {
		res, err := walkSegment(bytes.NewReader(seg), 7, int64(len(seg)), make([]byte, 1<<10), func(c cid.Cid, l location) error {
			if l.seg != 7 || l.off < 0 || l.off+int64(l.n) > int64(len(seg)) {
				t.Fatalf("record %s at %+v outside the %d-byte segment", c, l, len(seg))
			}
			if err := block.Verify(c, seg[l.off:l.off+int64(l.n)]); err != nil {
				t.Fatalf("record %s handed on with bytes that do not match: %v", c, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk: %v", err)
		}
		if res.damaged < 0 || res.torn < 0 || res.torn > 1 {
			t.Fatalf("counts %+v", res)
		}
	})
}

// fuzzSegmentImage writes a few records through the store's own segment
// writer and returns the file's bytes.
func fuzzSegmentImage(f *testing.F) []byte {
	ss, err := openSegments(f.TempDir(), minSegmentFileSize)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 4 {
		data := bytes.Repeat([]byte{byte(i), 'x'}, 40+i*30)
		c := block.Sum(block.CodecRaw, data)
		if i == 3 {
			c = block.Sum(block.CodecNode, data)
		}
		if _, err := ss.append(c, data); err != nil {
			f.Fatal(err)
		}
	}
	path := ss.path(ss.current())
	if err := ss.close(); err != nil {
		f.Fatal(err)
	}
	img, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return img
}
