package gossip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/testutil"
)

type allowOnly struct {
	ns string
	p  peer.ID
}

type allowAll struct{}

func (allowAll) MayPublish(context.Context, string, peer.ID) error { return nil }

func (a allowOnly) MayPublish(_ context.Context, ns string, p peer.ID) error {
	if ns == a.ns && p == a.p {
		return nil
	}
	return fmt.Errorf("%w: %s for %s", ErrUnauthorised, p, ns)
}

func TestServiceTopicAuthorisesAndRejects(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "test"
	c := newCluster(t, 3, cfg)
	owner, intruder, watcher := c.nodes[0], c.nodes[1], c.nodes[2]
	auth := allowOnly{ns: "acme", p: owner.h.ID()}
	type got struct {
		mu  sync.Mutex
		byP map[peer.ID]ServiceAnnouncement
	}
	var topics []*ServiceTopic
	var seen []*got
	for _, nd := range c.nodes {
		g := &got{byP: map[peer.ID]ServiceAnnouncement{}}
		var a ServiceAuthoriser = auth
		if nd == intruder {
			a = allowAll{} // a hostile node does not check itself
		}
		st, err := NewServiceTopic("test", nd.h, nd.ps, a, func(a ServiceAnnouncement, _ time.Time) {
			g.mu.Lock()
			g.byP[a.PeerID] = a
			g.mu.Unlock()
		}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		topics = append(topics, st)
		seen = append(seen, g)
	}
	ctx := context.Background()
	has := func(g *got, p peer.ID) bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		_, ok := g.byP[p]
		return ok
	}
	in := []ServiceInstance{{Service: "acme/api", ID: "i1", Proto: "http", Healthy: true}}
	testutil.Eventually(t, 20*time.Second, func() bool {
		_ = topics[0].Publish(ctx, time.Minute, in)
		_ = topics[1].Publish(ctx, time.Minute, in)
		return has(seen[2], owner.h.ID()) && topics[2].Rejected(ReasonUnauthorised) > 0
	}, "the owner's announcement delivered and the intruder's rejected")
	if has(seen[2], intruder.h.ID()) || has(seen[0], intruder.h.ID()) {
		t.Fatal("an unauthorised announcement was delivered")
	}
	_ = watcher
	if err := topics[0].Close(); err != nil {
		t.Fatal(err)
	}
	if err := topics[0].Publish(ctx, time.Minute, in); err == nil {
		t.Fatal("publish after Close succeeded")
	}
}

func TestServiceAnnouncementCodec(t *testing.T) {
	p := testutil.PeerID(t)
	good := ServiceAnnouncement{PeerID: p, Seq: 1, TTL: time.Minute, Instances: []ServiceInstance{{Service: "a/b", ID: "1", Proto: "tcp", Tags: map[string]string{"zone": "eu"}}}}
	b, err := EncodeServiceAnnouncement(good)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeServiceAnnouncement(b)
	if err != nil || back.PeerID != p || back.Instances[0].Tags["zone"] != "eu" {
		t.Fatalf("round trip: %+v %v", back, err)
	}
	for name, mut := range map[string]func(*ServiceAnnouncement){
		"no peer":     func(a *ServiceAnnouncement) { a.PeerID = "" },
		"no ttl":      func(a *ServiceAnnouncement) { a.TTL = 0 },
		"long ttl":    func(a *ServiceAnnouncement) { a.TTL = time.Hour },
		"bad service": func(a *ServiceAnnouncement) { a.Instances[0].Service = "nons" },
		"bad proto":   func(a *ServiceAnnouncement) { a.Instances[0].Proto = "udp" },
		"no id":       func(a *ServiceAnnouncement) { a.Instances[0].ID = "" },
		"many":        func(a *ServiceAnnouncement) { a.Instances = make([]ServiceInstance, MaxServiceInstances+1) },
	} {
		a := good
		a.Instances = append([]ServiceInstance(nil), good.Instances...)
		mut(&a)
		if _, err := EncodeServiceAnnouncement(a); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := DecodeServiceAnnouncement([]byte(strings.Repeat("x", MaxServiceMessageSize+1))); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := DecodeServiceAnnouncement([]byte{0xff, 0x00}); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
}
