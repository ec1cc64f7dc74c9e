package gossip

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/multiformats/go-multiaddr"
	"github.com/xnode/xnode"
)

func fullAnnouncement(t testing.TB) Announcement {
	id := testPeers(t, 1)[0]
	return Announcement{
		PeerID: id,
		Addrs: []multiaddr.Multiaddr{
			multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001"),
			multiaddr.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1"),
		},
		APIAddr:     "127.0.0.1:8080",
		CometNodeID: "0123456789abcdef0123456789abcdef01234567",
		CometP2P:    "127.0.0.1:26656",
		Capacity:    10 << 30,
		Used:        123456,
		Tags:        map[string]string{"zone": "eu-1", "disk": "ssd"},
		Services:    []string{"photos", "logs"},
		Version:     "v0.1.0",
		Seq:         1_700_000_000_000_000_000,
	}
}

func TestAnnouncementRoundTrip(t *testing.T) {
	a := fullAnnouncement(t)
	b, err := EncodeAnnouncement(a)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAnnouncement(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !sameContent(a, got) || got.Seq != a.Seq || got.Leaving != a.Leaving {
		t.Fatalf("round trip changed the announcement:\n got %+v\nwant %+v", got, a)
	}
	a.Leaving = true
	b, _ = EncodeAnnouncement(a)
	if got, _ := DecodeAnnouncement(b, 0); !got.Leaving {
		t.Fatal("Leaving lost in the round trip")
	}
}

func TestAnnouncementEncodingIsDeterministic(t *testing.T) {
	a := fullAnnouncement(t)
	first, err := EncodeAnnouncement(a)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		// Same tags, built in a different insertion order.
		tags := map[string]string{}
		keys := []string{"zone", "disk"}
		if i%2 == 1 {
			keys = []string{"disk", "zone"}
		}
		for _, k := range keys {
			tags[k] = a.Tags[k]
		}
		a.Tags = tags
		b, err := EncodeAnnouncement(a)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, first) {
			t.Fatalf("encoding %d differs from the first", i)
		}
	}
}

func TestDecodeAnnouncementRejectsBadInput(t *testing.T) {
	good, err := EncodeAnnouncement(fullAnnouncement(t))
	if err != nil {
		t.Fatal(err)
	}
	valid := func() wireAnnouncement {
		a := fullAnnouncement(t)
		return wireAnnouncement{PeerID: []byte(a.PeerID), Seq: 1}
	}
	enc := func(w any) []byte {
		b, err := cbor.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	manyTags := valid()
	manyTags.Tags = map[string]string{}
	for i := range MaxTags + 1 {
		manyTags.Tags[strings.Repeat("k", 1+i%10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	longService := valid()
	longService.Services = []string{strings.Repeat("s", MaxServiceLen+1)}
	badAddr := valid()
	badAddr.Addrs = [][]byte{{0xff, 0xff, 0xff}}
	badPeer := valid()
	badPeer.PeerID = []byte("not a peer id")
	zeroSeq := valid()
	zeroSeq.Seq = 0
	badComet := valid()
	badComet.CometNodeID = "not-hex"

	cases := []struct {
		name   string
		data   []byte
		want   error
		inText string
	}{
		{"empty", nil, ErrMalformed, "empty"},
		{"garbage", []byte("\xff\xfe\xfd garbage"), ErrMalformed, "cbor"},
		{"not a map", enc([]int{1, 2, 3}), ErrMalformed, "cbor"},
		{"trailing bytes", append(append([]byte{}, good...), 0x00), ErrMalformed, "cbor"},
		{"truncated", good[:len(good)/2], ErrMalformed, "cbor"},
		{"too many tags", enc(manyTags), ErrMalformed, ""},
		{"long service", enc(longService), ErrMalformed, "Services"},
		{"bad multiaddr", enc(badAddr), ErrMalformed, "Addrs"},
		{"bad peer id", enc(badPeer), ErrMalformed, "PeerID"},
		{"zero seq", enc(zeroSeq), ErrMalformed, "Seq"},
		{"comet id not hex", enc(badComet), ErrMalformed, "CometNodeID"},
		{"duplicate key", []byte{0xa2, 0x0b, 0x01, 0x0b, 0x02}, ErrMalformed, "cbor"},
		{"oversized", make([]byte, DefaultConfig().MaxMessageSize+1), ErrTooLarge, "limit"},
		// Size is checked before decoding: even a valid encoding over the
		// limit is refused as too large.
		{"valid but over a small limit", good, ErrTooLarge, "limit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limit := 0
			if c.name == "valid but over a small limit" {
				limit = len(good) - 1
			}
			_, err := DecodeAnnouncement(c.data, limit)
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.inText) {
				t.Fatalf("err %q does not mention %q", err, c.inText)
			}
		})
	}
	if _, err := DecodeAnnouncement(nil, 0); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("malformed must be an invalid argument, got %v", err)
	}
	if _, err := DecodeAnnouncement(make([]byte, 1<<20), 0); !errors.Is(err, xnode.ErrTooLarge) {
		t.Fatalf("oversized must be too large, got %v", err)
	}
}

func TestEncodeAnnouncementEnforcesLimits(t *testing.T) {
	a := fullAnnouncement(t)
	a.Tags = map[string]string{"k": strings.Repeat("v", MaxTagValueLen+1)}
	if _, err := EncodeAnnouncement(a); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "Tags") {
		t.Fatalf("oversized tag value: %v", err)
	}
	a = fullAnnouncement(t)
	a.PeerID = ""
	if _, err := EncodeAnnouncement(a); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty peer id: %v", err)
	}
}

// FuzzDecodeAnnouncement: decoding never panics, and whatever decodes
// re-encodes to something that decodes to the same announcement.
