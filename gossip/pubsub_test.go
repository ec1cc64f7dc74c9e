package gossip

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestScoreParamsWhitelistLoopbackOnly(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "net"
	p := scoreParams(cfg)
	if p.IPColocationFactorWeight >= 0 {
		t.Fatalf("colocation penalty disabled (weight %v); it must stay on for real addresses", p.IPColocationFactorWeight)
	}
	covered := func(ip string) bool {
		for _, n := range p.IPColocationFactorWhitelist {
			if n.Contains(net.ParseIP(ip)) {
				return true
			}
		}
		return false
	}
	for _, ip := range []string{"127.0.0.1", "127.1.2.3", "::1"} {
		if !covered(ip) {
			t.Errorf("%s not whitelisted", ip)
		}
	}
	for _, ip := range []string{"10.0.0.1", "192.168.1.1", "8.8.8.8", "::2"} {
		if covered(ip) {
			t.Errorf("%s whitelisted", ip)
		}
	}
	for _, topic := range []string{"/xnode/net/members/1", "/xnode/net/meta/1"} {
		if tp := p.Topics[topic]; tp == nil || tp.InvalidMessageDeliveriesWeight >= 0 {
			t.Errorf("topic %s: invalid messages are not penalised", topic)
		}
	}
}

func TestNewPubSubValidatesConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := NewPubSub(ctx, nil, LocalTestConfig()); err == nil {
		t.Fatal("NewPubSub accepted a config without Network")
	}
}

func TestDropOwnEchoes(t *testing.T) {
	self, other := peer.ID("self-id"), peer.ID("other-id")
	msg := func(from peer.ID, data string) *pb.Message {
		return &pb.Message{From: []byte(from), Data: []byte(data)}
	}
	rpc := &pubsub.RPC{RPC: pb.RPC{
		Publish: []*pb.Message{msg(self, "a"), msg(other, "b"), msg(self, "c"), msg(other, "d")},
		Control: &pb.ControlMessage{},
	}}
	if err := dropOwnEchoes(self)(other, rpc); err != nil {
		t.Fatalf("the RPC itself must go through: %v", err)
	}
	var got []string
	for _, m := range rpc.Publish {
		got = append(got, string(m.Data))
	}
	if !slices.Equal(got, []string{"b", "d"}) {
		t.Fatalf("kept %v, want the other peer's messages b and d", got)
	}
	if rpc.Control == nil {
		t.Fatal("control messages dropped")
	}
	empty := &pubsub.RPC{}
	if err := dropOwnEchoes(self)(other, empty); err != nil || len(empty.Publish) != 0 {
		t.Fatalf("empty RPC: %v, %v", err, empty.Publish)
	}
}
