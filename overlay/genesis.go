package overlay

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"time"

	cmttypes "github.com/cometbft/cometbft/types"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
)

// GenesisProtocol serves a network's genesis to joining nodes.
const GenesisProtocol = protocol.ID("/xnode/genesis/1.0.0")

// maxGenesisAnswer bounds what a joiner reads from a bootstrap peer.
const maxGenesisAnswer = 8 << 20

// GenesisInfo is the answer of the genesis protocol: the genesis file
// verbatim, and where to reach the answering node's CometBFT.
type GenesisInfo struct {
	ChainID     string      `json:"chain_id"`
	GenesisHash string      `json:"genesis_hash"`
	Genesis     []byte      `json:"genesis"` // the file verbatim (base64 in JSON, so no re-encoding changes its hash)
	CometPeer   string      `json:"comet_peer"`
	Params      abci.Params `json:"params"`
}

// serveGenesis answers the genesis protocol with this node's genesis file.
func (n *Node) serveGenesis() {
	n.host.SetStreamHandler(GenesisProtocol, func(s network.Stream) {
		defer s.Close()
		_ = s.SetDeadline(time.Now().Add(10 * time.Second))
		raw, err := consensus.ReadGenesis(n.opts.Home.CometHome())
		if err != nil {
			n.log.Warn("genesis protocol: cannot read genesis", "err", err)
			_ = s.Reset()
			return
		}
		info := GenesisInfo{ChainID: n.chainID, GenesisHash: consensus.GenesisHash(raw), Genesis: raw, Params: n.params}
		if n.chain != nil {
			info.CometPeer = n.chain.P2PAddress()
		}
		if err := json.NewEncoder(s).Encode(info); err != nil {
			n.log.Debug("genesis protocol: write failed", "peer", s.Conn().RemotePeer(), "err", err)
		}
	})
	n.onClose(func() error { n.host.RemoveStreamHandler(GenesisProtocol); return nil })
}

// ErrBadGenesis is a genesis answer that does not check out.
var ErrBadGenesis = fmt.Errorf("overlay: %w: bad genesis from bootstrap peer", xnode.ErrInvalidArgument)

// FetchGenesis asks the node at bootstrap (a multiaddr ending in /p2p/<id>)
// for its network's genesis, through a throwaway libp2p host, within timeout.
// It checks the answer decodes, is a valid CometBFT genesis, and hashes to
// the hash it claims; the caller checks chain id and hash against the user's
// expectations.
func FetchGenesis(ctx context.Context, bootstrap string, timeout time.Duration) (GenesisInfo, error) {
	ai, err := ParseBootstrap(bootstrap)
	if err != nil {
		return GenesisInfo{}, err
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return GenesisInfo{}, err
	}
	h, err := libp2p.New(libp2p.Identity(key), libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		return GenesisInfo{}, fmt.Errorf("overlay: join host: %w", err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		return GenesisInfo{}, fmt.Errorf("overlay: %w: cannot reach bootstrap %s within %s: %v", xnode.ErrUnavailable, bootstrap, timeout, err)
	}
	s, err := h.NewStream(ctx, ai.ID, GenesisProtocol)
	if err != nil {
		return GenesisInfo{}, fmt.Errorf("overlay: %w: bootstrap %s does not serve the genesis protocol: %v", xnode.ErrUnavailable, bootstrap, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	raw, err := io.ReadAll(io.LimitReader(s, maxGenesisAnswer+1))
	if err != nil {
		return GenesisInfo{}, fmt.Errorf("overlay: %w: reading genesis from %s: %v", xnode.ErrUnavailable, bootstrap, err)
	}
	return DecodeGenesisInfo(raw)
}

// DecodeGenesisInfo parses and checks a genesis protocol answer.
func DecodeGenesisInfo(raw []byte) (GenesisInfo, error) {
	if len(raw) > maxGenesisAnswer {
		return GenesisInfo{}, fmt.Errorf("%w: answer over %d bytes", ErrBadGenesis, maxGenesisAnswer)
	}
	var info GenesisInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return GenesisInfo{}, fmt.Errorf("%w: %v", ErrBadGenesis, err)
	}
	if len(info.Genesis) == 0 {
		return GenesisInfo{}, fmt.Errorf("%w: no genesis in the answer", ErrBadGenesis)
	}
	if got := consensus.GenesisHash(info.Genesis); got != info.GenesisHash {
		return GenesisInfo{}, fmt.Errorf("%w: genesis hashes to %s, answer claims %s", ErrBadGenesis, got, info.GenesisHash)
	}
	doc, err := cmttypes.GenesisDocFromJSON(info.Genesis)
	if err != nil {
		return GenesisInfo{}, fmt.Errorf("%w: %v", ErrBadGenesis, err)
	}
	if doc.ChainID != info.ChainID {
		return GenesisInfo{}, fmt.Errorf("%w: genesis chain id %q, answer claims %q", ErrBadGenesis, doc.ChainID, info.ChainID)
	}
	gs, err := abci.ParseGenesisState(doc.AppState)
	if err != nil {
		return GenesisInfo{}, fmt.Errorf("%w: app state: %v", ErrBadGenesis, err)
	}
	info.Params = gs.Params
	return info, nil
}

// JoinOptions say what a joining node expects of the network.
type JoinOptions struct {
	Bootstrap   string        // multiaddr of a member, ending in /p2p/<id>
	ChainID     string        // optional: refuse a network with another chain id
	GenesisHash string        // optional: refuse a genesis with another hash
	Timeout     time.Duration // how long to try the bootstrap peer
}

// ErrWrongNetwork means the bootstrap peer serves another network than the
// one the user asked for.
var ErrWrongNetwork = fmt.Errorf("overlay: %w: wrong network", xnode.ErrInvalidArgument)

// Join fetches the genesis from a running network and creates a home for a
// full node of it. Nothing is written unless every check passes.
func Join(ctx context.Context, h Home, cfg Config, opts JoinOptions) (GenesisInfo, error) {
	if h.Exists() {
		return GenesisInfo{}, fmt.Errorf("%w: %s (run xnode start to use it)", ErrHomeExists, h)
	}
	info, err := FetchGenesis(ctx, opts.Bootstrap, opts.Timeout)
	if err != nil {
		return GenesisInfo{}, err
	}
	if opts.ChainID != "" && opts.ChainID != info.ChainID {
		return info, fmt.Errorf("%w: bootstrap serves chain %q, expected %q", ErrWrongNetwork, info.ChainID, opts.ChainID)
	}
	if opts.GenesisHash != "" && opts.GenesisHash != info.GenesisHash {
		return info, fmt.Errorf("%w: genesis hash %s, expected %s", ErrWrongNetwork, info.GenesisHash, opts.GenesisHash)
	}
	cfg.P2P.Bootstrap = []string{opts.Bootstrap}
	if info.CometPeer != "" {
		cfg.Consensus.PersistentPeers = append(cfg.Consensus.PersistentPeers, info.CometPeer)
	}
	if err := InitFromGenesis(h, cfg, info.Genesis, nil); err != nil {
		return info, err
	}
	return info, nil
}
