//go:build tools

// This file pins the modules xnode builds on so that `go mod tidy` keeps them
// (and their go.sum entries) while packages are being written against them.
package xnode

import (
	_ "github.com/cometbft/cometbft/abci/example/kvstore"
	_ "github.com/cometbft/cometbft/abci/types"
	_ "github.com/cometbft/cometbft/config"
	_ "github.com/cometbft/cometbft/crypto/ed25519"
	_ "github.com/cometbft/cometbft/libs/log"
	_ "github.com/cometbft/cometbft/node"
	_ "github.com/cometbft/cometbft/p2p"
	_ "github.com/cometbft/cometbft/privval"
	_ "github.com/cometbft/cometbft/proxy"
	_ "github.com/cometbft/cometbft/rpc/client/local"
	_ "github.com/cometbft/cometbft/rpc/core/types"
	_ "github.com/cometbft/cometbft/types"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/ipfs/go-cid"
	_ "github.com/libp2p/go-libp2p"
	_ "github.com/libp2p/go-libp2p-kad-dht"
	_ "github.com/libp2p/go-libp2p-pubsub"
	_ "github.com/libp2p/go-libp2p/core/host"
	_ "github.com/libp2p/go-libp2p/p2p/discovery/routing"
	_ "github.com/libp2p/go-libp2p/p2p/discovery/util"
	_ "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	_ "github.com/libp2p/go-libp2p/p2p/net/mock"
	_ "github.com/libp2p/go-msgio"
	_ "github.com/multiformats/go-multiaddr"
	_ "github.com/multiformats/go-multihash"
	_ "github.com/pelletier/go-toml/v2"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/goleak"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
)
