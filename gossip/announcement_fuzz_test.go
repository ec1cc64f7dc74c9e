package gossip

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/multiformats/go-multiaddr"
)

// FuzzDecodeAnnouncement holds the gossip topic validator's decoder to its
// contract for any message a peer can sign: it never panics, refuses only
// with ErrMalformed or ErrTooLarge, refuses anything over the size limit
// before parsing it, and what it accepts passes Validate and re-encodes to
// an announcement that decodes to the same thing. (Unknown keys are
// ignored for forward compatibility, so the round trip is of content, not
// of bytes; the re-encoding is canonical and never longer than the input.)
func FuzzDecodeAnnouncement(f *testing.F) {
	full := fullAnnouncement(f)
	minimal := Announcement{PeerID: full.PeerID, Seq: 1}
	leaving := full
	leaving.Leaving = true
	leaving.Seq++
	meta := minimal
	meta.Tags = map[string]string{"zone": "eu-1", "k": ""}
	meta.Services = []string{"photos"}
	many := full
	many.Addrs = nil
	for range MaxAddrs {
		many.Addrs = append(many.Addrs, multiaddr.StringCast("/ip6/::1/tcp/4001"))
	}
	for _, a := range []Announcement{full, minimal, leaving, meta, many} {
		b, err := EncodeAnnouncement(a)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\xa1\x01\x40"))
	f.Add([]byte{0xa2, 0x0b, 0x01, 0x0b, 0x02})          // a duplicate key
	f.Add([]byte{0x9f, 0xff})                            // indefinite length
	f.Add([]byte("\xa1\x08\xa1\x61k\x62\xff\xfe"))       // a tag value not UTF-8
	f.Add([]byte(strings.Repeat("\x81", 1000) + "\x00")) // deep nesting
	f.Fuzz(func(t *testing.T, data []byte) {
		limit := DefaultConfig().MaxMessageSize
		// One byte short of its size, any message is refused unparsed.
		if len(data) > 1 {
			if _, err := DecodeAnnouncement(data, len(data)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%d bytes with limit %d: %v, want ErrTooLarge", len(data), len(data)-1, err)
			}
		}
		a, err := DecodeAnnouncement(data, 0)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("decode error of unexpected kind: %v", err)
			}
			if errors.Is(err, ErrTooLarge) != (len(data) > limit) {
				t.Fatalf("%d bytes with limit %d: %v", len(data), limit, err)
			}
			return
		}
		if len(data) > limit {
			t.Fatalf("accepted %d bytes over the limit %d", len(data), limit)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted an announcement that does not validate: %v", err)
		}
		b, err := EncodeAnnouncement(a)
		if err != nil {
			t.Fatalf("decoded announcement does not re-encode: %v", err)
		}
		if len(b) > len(data) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(data), len(b))
		}
		again, err := DecodeAnnouncement(b, 0)
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !sameContent(a, again) || a.Seq != again.Seq || a.Leaving != again.Leaving {
			t.Fatalf("re-encoding changed the announcement")
		}
		if b2, _ := EncodeAnnouncement(again); !bytes.Equal(b, b2) {
			t.Fatalf("the encoding is not canonical: %x then %x", b, b2)
		}
	})
}
