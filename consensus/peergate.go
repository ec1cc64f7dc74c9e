package consensus

import (
	"context"
	"strings"
	"sync/atomic"

	abcitypes "github.com/cometbft/cometbft/abci/types"
)

// peerGate stands between CometBFT and the application to answer CometBFT's
// peer filter queries (filter_peers, "/p2p/filter/addr/..." and
// "/p2p/filter/id/..."): every peer is welcome until Close begins, none
// after. Every other call goes to the application.
//
// Why: CometBFT v0.38's switch, once stopped, leaves an inbound connection
// it accepted meanwhile open without serving it (Switch.addPeer logs "Won't
// start a peer - switch is not running" and returns without closing it).
// A peer that redials the stopping node at that moment, as persistent peers
// do at once, then holds a live-looking connection to a node that is gone,
// and refuses the restarted node as a duplicate until its pong timeout
// (about 105 s). A process that exits closes the socket; a node restarted
// in the same process did not come back for that long. The switch runs its
// peer filters before that check and closes a connection they refuse.
type peerGate struct {
	abcitypes.Application
	closing atomic.Bool
}

const peerFilterPrefix = "/p2p/filter/"

// Query implements abcitypes.Application.
func (g *peerGate) Query(ctx context.Context, req *abcitypes.RequestQuery) (*abcitypes.ResponseQuery, error) {
	if !strings.HasPrefix(req.Path, peerFilterPrefix) {
		return g.Application.Query(ctx, req)
	}
	if g.closing.Load() {
		return &abcitypes.ResponseQuery{Code: 1, Log: "node is stopping"}, nil
	}
	return &abcitypes.ResponseQuery{}, nil
}
