package service

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"
)

// Protocols an instance speaks.
const (
	ProtoHTTP = "http"
	ProtoTCP  = "tcp"
)

// Limits on an instance's fields, shared with the gossip codec.
const (
	MaxNameLen     = 128
	MaxIDLen       = 64
	MaxTags        = 32
	MaxTagKeyLen   = 64
	MaxTagValueLen = 256
	MaxWeight      = 1000
)

// Errors the core returns; callers map them with errors.Is.
var (
	ErrBadName        = errors.New("service: bad service name")
	ErrBadInstance    = errors.New("service: bad instance")
	ErrUnknownService = errors.New("service: unknown service")
	ErrNoInstance     = errors.New("service: no healthy instance")
)

// Instance is one announced instance of a service.
type Instance struct {
	// Service is NAMESPACE/SERVICE.
	Service string `json:"service"`
	// ID names the instance among its peer's instances of the service.
	ID string `json:"id"`
	// Peer is the libp2p peer id of the node serving it.
	Peer string `json:"peer"`
	// Proto is ProtoHTTP or ProtoTCP.
	Proto string `json:"proto"`
	// Tags are free key=value labels; "zone" drives zone preference.
	Tags map[string]string `json:"tags,omitempty"`
	// Weight scales the instance's share (1 when 0).
	Weight int `json:"weight"`
	// Healthy is the announcing node's own health check result.
	Healthy bool `json:"healthy"`
	// Load is the announcing node's load hint (requests in flight).
	Load float64 `json:"load"`
	// Expires is when the instance is dropped unless announced again.
	Expires time.Time `json:"expires"`
}

// Key identifies the instance within its service.
func (in Instance) Key() string { return in.Peer + "/" + in.ID }

// Clone returns a deep copy.
func (in Instance) Clone() Instance {
	in.Tags = maps.Clone(in.Tags)
	return in
}

// ParseName splits NAMESPACE/SERVICE and checks both parts.
func ParseName(s string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(s, "/")
	if !ok || !validPart(ns) || !validPart(name) || len(s) > MaxNameLen {
		return "", "", fmt.Errorf("%w: %q: want NAMESPACE/SERVICE of letters, digits, '-', '_', '.'", ErrBadName, s)
	}
	return ns, name, nil
}

func validPart(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return s != "." && s != ".."
}

// Validate checks the instance's fields against the limits.
func (in Instance) Validate() error {
	if _, _, err := ParseName(in.Service); err != nil {
		return err
	}
	if in.ID == "" || len(in.ID) > MaxIDLen {
		return fmt.Errorf("%w: instance id must be 1..%d bytes", ErrBadInstance, MaxIDLen)
	}
	if in.Peer == "" || len(in.Peer) > 128 {
		return fmt.Errorf("%w: missing peer id", ErrBadInstance)
	}
	if in.Proto != ProtoHTTP && in.Proto != ProtoTCP {
		return fmt.Errorf("%w: proto %q: want http or tcp", ErrBadInstance, in.Proto)
	}
	if len(in.Tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, at most %d", ErrBadInstance, len(in.Tags), MaxTags)
	}
	for k, v := range in.Tags {
		if k == "" || len(k) > MaxTagKeyLen || len(v) > MaxTagValueLen || strings.ContainsAny(k, "=,") || strings.Contains(v, ",") {
			return fmt.Errorf("%w: bad tag %q=%q", ErrBadInstance, k, v)
		}
	}
	if in.Weight < 0 || in.Weight > MaxWeight {
		return fmt.Errorf("%w: weight %d: want 0..%d", ErrBadInstance, in.Weight, MaxWeight)
	}
	if in.Load < 0 || in.Load != in.Load {
		return fmt.Errorf("%w: load hint %v", ErrBadInstance, in.Load)
	}
	return nil
}

// ParseTags parses "k=v,k2=v2" (the X-Xnode-Tags header and --tag flags).
func ParseTags(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" || len(k) > MaxTagKeyLen || len(v) > MaxTagValueLen {
			return nil, fmt.Errorf("%w: tag %q: want k=v", ErrBadInstance, kv)
		}
		out[k] = v
	}
	if len(out) > MaxTags {
		return nil, fmt.Errorf("%w: %d tags, at most %d", ErrBadInstance, len(out), MaxTags)
	}
	return out, nil
}
