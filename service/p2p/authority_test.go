package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/internal/testutil"
)

func TestChainAuthoriser(t *testing.T) {
	ownerPub, _, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	ownerAddr := abci.AddressOf(ownerPub).String()
	allowed, byOwner, byOther, unknown := testutil.PeerID(t), testutil.PeerID(t), testutil.PeerID(t), testutil.PeerID(t)
	down := false
	asked := 0
	a := NewChainAuthoriser(func(_ context.Context, path string, data []byte, out any) error {
		asked++
		if down {
			return fmt.Errorf("chain: %w", xnode.ErrUnavailable)
		}
		switch path {
		case abci.QueryNamespace:
			if string(data) != "acme" {
				return fmt.Errorf("%w: namespace", xnode.ErrNotFound)
			}
			*out.(*abci.Namespace) = abci.Namespace{Name: "acme", Owner: ownerPub, Publishers: []string{allowed.String()}}
		case abci.QueryNode:
			switch string(data) {
			case byOwner.String():
				*out.(*abci.NodeInfo) = abci.NodeInfo{PeerID: string(data), Address: ownerAddr}
			case byOther.String():
				*out.(*abci.NodeInfo) = abci.NodeInfo{PeerID: string(data), Address: abci.AddressOf(otherPub).String()}
			default:
				return fmt.Errorf("%w: node", xnode.ErrNotFound)
			}
		}
		return nil
	})
	ctx := context.Background()
	for _, tc := range []struct {
		ns   string
		p    peer.ID
		want bool
	}{
		{"acme", allowed, true},
		{"acme", byOwner, true},
		{"acme", byOther, false},
		{"acme", unknown, false},
		{"nosuch", byOwner, false},
	} {
		err := a.MayPublish(ctx, tc.ns, tc.p)
		if (err == nil) != tc.want || (err != nil && !errors.Is(err, gossip.ErrUnauthorised)) {
			t.Errorf("%s by %s: %v, want allowed=%v", tc.ns, tc.p, err, tc.want)
		}
	}
	// Answers are cached for about a block; a chain that does not answer
	// is not cached and not taken for a refusal.
	n := asked
	_ = a.MayPublish(ctx, "acme", allowed)
	if asked != n {
		t.Errorf("a cached answer asked the chain again")
	}
	down = true
	if err := a.MayPublish(ctx, "acme", testutil.PeerID(t)); err == nil || errors.Is(err, gossip.ErrUnauthorised) {
		t.Errorf("chain down: %v, want a plain error", err)
	}
}
