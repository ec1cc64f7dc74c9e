package gossip

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// Announcement is what a node says about itself. It travels whole in every
// heartbeat (it is small) and in metadata updates.
type Announcement struct {
	// PeerID is the announcing node; it must be the message signer.
	PeerID peer.ID
	// Addrs are the node's libp2p listen addresses.
	Addrs []multiaddr.Multiaddr
	// APIAddr is host:port of the node's HTTP API.
	APIAddr string
	// CometNodeID is the CometBFT node id (hex).
	CometNodeID string
	// CometP2P is the CometBFT p2p host:port.
	CometP2P string
	// Capacity is the number of bytes the node offers for storage; it is
	// the node's placement weight.
	Capacity uint64
	// Used is the number of bytes the node stores.
	Used uint64
	// Tags are free key=value metadata.
	Tags map[string]string
	// Services are the service prefixes (namespaces) the node announces.
	Services []string
	// Version is the software version.
	Version string
	// Seq orders a peer's announcements: strictly increasing per peer. The
	// Service uses the sender's clock in Unix nanoseconds, bumped when
	// needed, so a restarted node continues upward.
	Seq uint64
	// Leaving marks a graceful leave.
	Leaving bool
}

// Limits on an announcement's fields. Encode and decode enforce the same
// limits, so a node never publishes what its peers would reject.
const (
	MaxAddrs       = 32
	MaxAddrLen     = 256
	MaxTags        = 64
	MaxTagKeyLen   = 64
	MaxTagValueLen = 256
	MaxServices    = 64
	MaxServiceLen  = 256
	MaxStringLen   = 256 // APIAddr, CometP2P, Version
	MaxCometIDLen  = 64
)

// wireAnnouncement is the CBOR form: integer keys keep it compact and let
// fields be added later (unknown keys are ignored on decode).
type wireAnnouncement struct {
	PeerID      []byte            `cbor:"1,keyasint"`
	Addrs       [][]byte          `cbor:"2,keyasint,omitempty"`
	APIAddr     string            `cbor:"3,keyasint,omitempty"`
	CometNodeID string            `cbor:"4,keyasint,omitempty"`
	CometP2P    string            `cbor:"5,keyasint,omitempty"`
	Capacity    uint64            `cbor:"6,keyasint,omitempty"`
	Used        uint64            `cbor:"7,keyasint,omitempty"`
	Tags        map[string]string `cbor:"8,keyasint,omitempty"`
	Services    []string          `cbor:"9,keyasint,omitempty"`
	Version     string            `cbor:"10,keyasint,omitempty"`
	Seq         uint64            `cbor:"11,keyasint"`
	Leaving     bool              `cbor:"12,keyasint,omitempty"`
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(fmt.Sprintf("gossip: cbor encoder options: %v", err))
	}
	decMode, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		MaxNestedLevels:  4,
		MaxArrayElements: max(MaxAddrs, MaxServices),
		MaxMapPairs:      max(MaxTags, 32),
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(fmt.Sprintf("gossip: cbor decoder options: %v", err))
	}
}

// Validate checks the field limits; the error names the field.
func (a Announcement) Validate() error {
	bad := func(field, why string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrMalformed, field, fmt.Sprintf(why, args...))
	}
	if a.PeerID == "" {
		return bad("PeerID", "empty")
	}
	if err := a.PeerID.Validate(); err != nil {
		return bad("PeerID", "%v", err)
	}
	if a.Seq == 0 {
		return bad("Seq", "must be positive")
	}
	if len(a.Addrs) > MaxAddrs {
		return bad("Addrs", "%d addresses, at most %d", len(a.Addrs), MaxAddrs)
	}
	for i, m := range a.Addrs {
		if m == nil || len(m.Bytes()) == 0 {
			return bad("Addrs", "address %d is empty", i)
		}
		if n := len(m.Bytes()); n > MaxAddrLen {
			return bad("Addrs", "address %d is %d bytes, at most %d", i, n, MaxAddrLen)
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"APIAddr", a.APIAddr, MaxStringLen},
		{"CometNodeID", a.CometNodeID, MaxCometIDLen},
		{"CometP2P", a.CometP2P, MaxStringLen},
		{"Version", a.Version, MaxStringLen},
	} {
		if len(f.v) > f.max {
			return bad(f.name, "%d bytes, at most %d", len(f.v), f.max)
		}
		if !utf8.ValidString(f.v) {
			return bad(f.name, "not UTF-8")
		}
	}
	if a.CometNodeID != "" {
		if _, err := hex.DecodeString(a.CometNodeID); err != nil {
			return bad("CometNodeID", "not hex")
		}
	}
	if err := validateMeta(a.Tags, a.Services); err != nil {
		return err
	}
	return nil
}

// validateMeta checks tags and services, which PublishMeta takes alone.
func validateMeta(tags map[string]string, services []string) error {
	bad := func(field, why string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrMalformed, field, fmt.Sprintf(why, args...))
	}
	if len(tags) > MaxTags {
		return bad("Tags", "%d tags, at most %d", len(tags), MaxTags)
	}
	for k, v := range tags {
		if k == "" || len(k) > MaxTagKeyLen {
			return bad("Tags", "key %q: length must be 1..%d", truncate(k), MaxTagKeyLen)
		}
		if len(v) > MaxTagValueLen {
			return bad("Tags", "value of %q: %d bytes, at most %d", k, len(v), MaxTagValueLen)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return bad("Tags", "key or value of %q not UTF-8", truncate(k))
		}
	}
	if len(services) > MaxServices {
		return bad("Services", "%d services, at most %d", len(services), MaxServices)
	}
	for i, s := range services {
		if s == "" || len(s) > MaxServiceLen {
			return bad("Services", "entry %d: length must be 1..%d", i, MaxServiceLen)
		}
		if !utf8.ValidString(s) {
			return bad("Services", "entry %d not UTF-8", i)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// EncodeAnnouncement returns the deterministic CBOR encoding (RFC 8949 core
// deterministic: sorted map keys, shortest forms) of a valid announcement.
func EncodeAnnouncement(a Announcement) ([]byte, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	w := wireAnnouncement{
		PeerID:      []byte(a.PeerID),
		APIAddr:     a.APIAddr,
		CometNodeID: a.CometNodeID,
		CometP2P:    a.CometP2P,
		Capacity:    a.Capacity,
		Used:        a.Used,
		Tags:        a.Tags,
		Services:    a.Services,
		Version:     a.Version,
		Seq:         a.Seq,
		Leaving:     a.Leaving,
	}
	for _, m := range a.Addrs {
		w.Addrs = append(w.Addrs, m.Bytes())
	}
	b, err := encMode.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("gossip: encode announcement: %w", err)
	}
	return b, nil
}

// DecodeAnnouncement decodes data, refusing it before any parsing when it is
// longer than maxSize bytes (ErrTooLarge), and checks every field limit
// (ErrMalformed). A maxSize of zero or less means DefaultConfig's
// MaxMessageSize.
func DecodeAnnouncement(data []byte, maxSize int) (Announcement, error) {
	if maxSize <= 0 {
		maxSize = DefaultConfig().MaxMessageSize
	}
	if len(data) > maxSize {
		return Announcement{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), maxSize)
	}
	if len(data) == 0 {
		return Announcement{}, fmt.Errorf("%w: empty", ErrMalformed)
	}
	var w wireAnnouncement
	if err := decMode.Unmarshal(data, &w); err != nil {
		return Announcement{}, fmt.Errorf("%w: cbor: %v", ErrMalformed, err)
	}
	id, err := peer.IDFromBytes(w.PeerID)
	if err != nil {
		return Announcement{}, fmt.Errorf("%w: PeerID: %v", ErrMalformed, err)
	}
	a := Announcement{
		PeerID:      id,
		APIAddr:     w.APIAddr,
		CometNodeID: w.CometNodeID,
		CometP2P:    w.CometP2P,
		Capacity:    w.Capacity,
		Used:        w.Used,
		Tags:        w.Tags,
		Services:    w.Services,
		Version:     w.Version,
		Seq:         w.Seq,
		Leaving:     w.Leaving,
	}
	if len(w.Addrs) > MaxAddrs {
		return Announcement{}, fmt.Errorf("%w: Addrs: %d addresses, at most %d", ErrMalformed, len(w.Addrs), MaxAddrs)
	}
	for i, b := range w.Addrs {
		if len(b) > MaxAddrLen {
			return Announcement{}, fmt.Errorf("%w: Addrs: address %d is %d bytes, at most %d", ErrMalformed, i, len(b), MaxAddrLen)
		}
		m, err := multiaddr.NewMultiaddrBytes(b)
		if err != nil {
			return Announcement{}, fmt.Errorf("%w: Addrs: address %d: %v", ErrMalformed, i, err)
		}
		a.Addrs = append(a.Addrs, m)
	}
	if err := a.Validate(); err != nil {
		return Announcement{}, err
	}
	return a, nil
}

// clone deep-copies the announcement so that table state never aliases a
// caller's maps or slices.
func (a Announcement) clone() Announcement {
	a.Addrs = slices.Clone(a.Addrs)
	a.Tags = maps.Clone(a.Tags)
	a.Services = slices.Clone(a.Services)
	return a
}

// sameContent reports whether a and b say the same thing, ignoring Seq and
// Leaving; a change in content is what makes an Updated event.
func sameContent(a, b Announcement) bool {
	if a.PeerID != b.PeerID || a.APIAddr != b.APIAddr || a.CometNodeID != b.CometNodeID ||
		a.CometP2P != b.CometP2P || a.Capacity != b.Capacity || a.Used != b.Used ||
		a.Version != b.Version || len(a.Addrs) != len(b.Addrs) ||
		!maps.Equal(a.Tags, b.Tags) || !slices.Equal(a.Services, b.Services) {
		return false
	}
	for i := range a.Addrs {
		if !bytes.Equal(a.Addrs[i].Bytes(), b.Addrs[i].Bytes()) {
			return false
		}
	}
	return true
}
