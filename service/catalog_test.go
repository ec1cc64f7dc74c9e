package service

import (
	"errors"
	"testing"
	"time"
)

func TestCatalogEvents(t *testing.T) {
	c, err := NewCatalog(Config{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := inst("a"), inst("b")
	b.Expires = t0.Add(10 * time.Second)
	other := inst("x")
	other.Service = "acme/db"
	other.Peer = "peer-a"
	for _, in := range []Instance{a, b, other} {
		if err := c.Announce(t0, in); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Services(); len(got) != 2 || got[0] != "acme/api" || got[1] != "acme/db" {
		t.Fatalf("services %v", got)
	}
	// Refreshing keeps one instance.
	a.Load = 3
	if err := c.Announce(t0, a); err != nil {
		t.Fatal(err)
	}
	if ins, _ := c.Instances(t0, "acme/api"); len(ins) != 2 || ins[0].Load != 3 {
		t.Fatalf("instances %+v", ins)
	}
	// b's announcements stop: it expires at its expiry, not before.
	if got := c.Expire(t0.Add(9 * time.Second)); len(got) != 0 {
		t.Fatalf("expired early: %v", got)
	}
	if got := c.Expire(t0.Add(10 * time.Second)); len(got) != 1 || got[0].ID != "b" {
		t.Fatalf("expired %v, want b", got)
	}
	// The member a fails: all its instances go at once, in every service.
	if n := c.DropPeer("peer-a"); n != 2 {
		t.Fatalf("dropped %d, want 2", n)
	}
	if _, _, err := c.Pick(t0, "acme/api", Filter{}); !errors.Is(err, ErrUnknownService) {
		t.Fatalf("pick after drop: %v, want ErrUnknownService", err)
	}
	c.Reject("unauthorised")
	c.Reject("unauthorised")
	if got := c.Rejected()["unauthorised"]; got != 2 {
		t.Fatalf("rejected %d", got)
	}
}

func TestCatalogBadInput(t *testing.T) {
	c, _ := NewCatalog(Config{})
	for name, mut := range map[string]func(*Instance){
		"no slash":      func(i *Instance) { i.Service = "acme" },
		"bad char":      func(i *Instance) { i.Service = "acme/a b" },
		"dot dot":       func(i *Instance) { i.Service = "../x" },
		"no id":         func(i *Instance) { i.ID = "" },
		"no peer":       func(i *Instance) { i.Peer = "" },
		"proto":         func(i *Instance) { i.Proto = "udp" },
		"weight":        func(i *Instance) { i.Weight = -1 },
		"tag comma":     func(i *Instance) { i.Tags = map[string]string{"a": "b,c"} },
		"expired":       func(i *Instance) { i.Expires = t0 },
		"negative load": func(i *Instance) { i.Load = -1 },
	} {
		in := inst("a")
		mut(&in)
		if err := c.Announce(t0, in); !errors.Is(err, ErrBadInstance) && !errors.Is(err, ErrBadName) {
			t.Errorf("%s: %v, want a bad-instance error", name, err)
		}
	}
	if _, err := ParseTags("a=b,c"); err == nil {
		t.Error("tag without = accepted")
	}
	if m, err := ParseTags("zone=eu, tier=gold"); err != nil || m["tier"] != "gold" {
		t.Errorf("ParseTags: %v %v", m, err)
	}
	if err := (Config{MaxEjection: time.Second}).Validate(); err == nil {
		t.Error("MaxEjection below BaseEjection accepted")
	}
}
