package p2p

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/gossip"
)

// authCacheTTL is how long a chain answer on who may publish is reused:
// about one block.
const authCacheTTL = time.Second

// QueryFunc asks the chain: an ABCI query path and its data, the JSON
// answer decoded into out; an absent key is an error wrapping
// xnode.ErrNotFound.
type QueryFunc func(ctx context.Context, path string, data []byte, out any) error

// ChainAuthoriser answers who may publish a namespace's services from the
// chain: the peers the owner allowed (Namespace.Publishers), and any peer
// registered on chain by the owner's account. It is the Authoriser the
// services topic's validator asks; answers are cached for about a block.
type ChainAuthoriser struct {
	query QueryFunc

	mu    sync.Mutex
	cache map[string]authAnswer
}

type authAnswer struct {
	err error
	at  time.Time
}

// NewChainAuthoriser returns an authoriser asking the chain through query.
func NewChainAuthoriser(query QueryFunc) *ChainAuthoriser {
	return &ChainAuthoriser{query: query, cache: map[string]authAnswer{}}
}

// MayPublish reports nil when p may publish ns's services, an error
// wrapping gossip.ErrUnauthorised when the chain says no, and any other
// error (not cached) when the chain did not answer.
func (a *ChainAuthoriser) MayPublish(ctx context.Context, ns string, p peer.ID) error {
	key := ns + "\x00" + string(p)
	now := time.Now()
	a.mu.Lock()
	if c, ok := a.cache[key]; ok && now.Sub(c.at) < authCacheTTL {
		a.mu.Unlock()
		return c.err
	}
	a.mu.Unlock()
	err := a.ask(ctx, ns, p)
	if err != nil && !errors.Is(err, gossip.ErrUnauthorised) {
		return err // not cached: the chain did not answer
	}
	a.mu.Lock()
	if len(a.cache) > 4096 {
		clear(a.cache)
	}
	a.cache[key] = authAnswer{err: err, at: now}
	a.mu.Unlock()
	return err
}

func (a *ChainAuthoriser) ask(ctx context.Context, ns string, p peer.ID) error {
	var info abci.Namespace
	if err := a.query(ctx, abci.QueryNamespace, []byte(ns), &info); err != nil {
		if errors.Is(err, xnode.ErrNotFound) {
			return fmt.Errorf("%w: namespace %q is not registered", gossip.ErrUnauthorised, ns)
		}
		return fmt.Errorf("namespace %q: %w", ns, err)
	}
	if slices.Contains(info.Publishers, p.String()) {
		return nil
	}
	if len(info.Owner) == ed25519.PublicKeySize {
		var node abci.NodeInfo
		err := a.query(ctx, abci.QueryNode, []byte(p.String()), &node)
		if err == nil && node.Address == abci.AddressOf(ed25519.PublicKey(info.Owner)).String() {
			return nil
		}
		if err != nil && !errors.Is(err, xnode.ErrNotFound) {
			return fmt.Errorf("node %s: %w", p, err)
		}
	}
	return fmt.Errorf("%w: %s is neither registered by the owner of %q nor allowed by it", gossip.ErrUnauthorised, p, ns)
}
