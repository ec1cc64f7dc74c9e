// Package consensus embeds a CometBFT v0.38 node in the xnode process: it
// creates the CometBFT home (keys, config, genesis), starts and stops the node
// around whatever ABCI application it is given, submits transactions and
// waits for their commit, queries the application, and reports status.
//
// # Home
//
// The CometBFT home is <xnode home>/cometbft:
//
//	config/config.toml               regenerated from Config on every Start
//	config/genesis.json              written once; never replaced (ErrGenesisExists)
//	config/node_key.json             CometBFT p2p identity (node id)
//	config/priv_validator_key.json   the operator's ed25519 key: operator key = validator key
//	data/priv_validator_state.json   last signed height/round/step, kept across Init;
//	                                 rebuilt by recovery when lost (see Recovery)
//	data/*.db, data/cs.wal           block store, state, evidence (goleveldb), consensus WAL
//
// Init makes a home for the first node of a network (single-validator or
// explicit genesis set); InitFromGenesis makes one for a joiner from genesis
// bytes fetched from a peer, stored verbatim so GenesisHash (hex SHA-256 of
// the file bytes, what `xnode join --genesis-hash` checks) matches. A node
// whose key is not in the validator set runs as a full node.
//
// # Recovery of a lost sign state
//
// A validator that lost data/ (a wiped disk, a restore without it) lost
// priv_validator_state.json, its record of the last height, round and step
// it signed. Signing from an empty record could sign a second, conflicting
// vote at a height it already voted on. New therefore treats a missing
// state file next to a present key as a recovery, not an error:
//
//   - CometBFT is handed a guardedSigner (privval.go): the FilePV behind a
//     signGuard, a pure state machine asked before every signature. While
//     recovering it refuses everything.
//   - The node starts with whatever data it has (none: genesis) and block-
//     syncs from its peers. A recoverer (recovery.go) polls the node; once
//     block sync has ended and a peer has reported the height it is deciding,
//     recoveryFloor fixes the floor: the highest height seen (the peers',
//     or its own next one) plus recoveryMargin, the one height its lost
//     record may hold beyond anything its peers committed.
//   - The floor is written as the state file (that height, round MaxInt32,
//     the last step), so FilePV itself refuses every height up to it from
//     then on, across restarts; only after the write does the guard let
//     signatures above the floor through.
//
// A restart during recovery, before the floor is written, recovers again:
// nothing was signed meanwhile. The floor is only as good as the peers the
// node hears when block sync ends: it must recover among the network's
// validators (as xnode does, dialling every member it learns from gossip),
// not behind one lagging node. A peer that lies about a huge height only
// keeps this validator from signing (liveness), it cannot make it sign twice. The only validator of a chain (by genesis)
// cannot recover: CometBFT does not block-sync a chain it alone validates,
// it would produce new blocks from where its data ends, with the key that
// signed the old ones. New refuses it with ErrSignStateLost, naming the file
// and the ways out (restore from a backup, or a new chain in a new home);
// Start refuses it with ErrChainDataLost when its state file survived but
// its block store lost the blocks it had signed on (it would only stall).
// Every other error about the priv validator files names the file and what
// to do. Init and InitFromGenesis write an empty state for a key that has
// never signed; a home must not be recreated that way around a key that has.
//
// # Lifecycle
//
// New reads keys and genesis and starts nothing. Start builds the CometBFT
// node (replaying stored blocks the application has not seen, through the
// ABCI handshake) and starts it. Close stops it and waits: CometBFT's
// services, the ABCI connections (which CometBFT's own stop leaves running),
// the event router, then every database. Close is idempotent and does not
// close the application; the caller owns it and closes it after the node.
// A Node is not restarted; make a new one on the same home.
//
// # Concurrency
//
// All Node methods are safe for concurrent use. The application is driven
// through one mutex over all ABCI connections (proxy.NewLocalClientCreator),
// so it need not be safe for concurrent use, and Query calls are serialized
// with block execution. BroadcastTxCommit scales to many concurrent callers:
// they share two unbuffered event-bus subscriptions (committed transactions,
// new blocks), fanned out by hash, instead of one subscription each; the
// router never blocks the bus, and none of the RPC layer's subscriber limits
// apply. NewBlocks channels hold one height and coalesce: a slow consumer
// only ever sees the latest height, which is all it needs since heights are
// monotone.
//
// # Transactions and their fates
//
// SubmitTx is the idempotent submit: it answers committed (now or before),
// rejected by CheckTx, or pending once ctx's deadline passes with the
// transaction in the mempool, never "already in cache" or a replay error
// for bytes it has seen. Tx looks a hash up. Both use the event router's
// memory of the last RememberedTxs fates, then CometBFT's tx index
// (Config.IndexTxs, which also turns on the block index and the RPC's /tx,
// /tx_search and /block_search), then the mempool. BroadcastTxCommit keeps
// the plain semantics (a deadline is ErrTimeout, a duplicate ErrTxInCache)
// for load generators that want them.
//
// # Errors
//
// Sentinels wrap the root package's kinds: ErrGenesisExists, ErrSignStateLost
// and ErrChainDataLost (conflict), ErrTimeout (timeout; the transaction may
// still commit), ErrTxInCache (conflict), ErrMempoolFull (overloaded),
// ErrTxTooLarge, ErrNotStarted and ErrClosed (unavailable). An application
// rejection is a *TxError carrying code, codespace and log, which unwraps to
// xnode.ErrInvalidArgument.
//
// # Timeouts: dev network vs real network
//
// DefaultConfig keeps CometBFT's production timeouts (propose 3 s, prevote
// and precommit 1 s, commit 1 s): validators are spread over a WAN, a
// proposal with a full block needs time to gossip, and TimeoutCommit must be
// long enough for the slower validators' precommits to arrive so that they
// are counted in the next block's LastCommit and the set stays live. Block
// time under load is about TimeoutCommit plus one round trip, so ~1.1 s.
//
// DevConfig is for validators sharing one machine (localnet, tests,
// benchmarks): messages take well under a millisecond, so TimeoutCommit
// 200 ms gives blocks about 4-5 times a second with enough slack for four
// nodes scheduled on two busy cores; going lower mostly adds empty rounds and
// CPU without lowering commit latency much (measured: p50 ~220 ms on one
// validator, ~550 ms on four with 64 concurrent submitters). TimeoutPropose
// stays at 1 s because it only fires when a proposer is slow or down, and a
// too-short one turns a CPU hiccup into a wasted round. Vote timeouts are
// 200 ms. Both configs create empty blocks only after an idle interval (5 s,
// 1 s dev): a transaction starts a block at once, and the height keeps
// growing slowly when idle so status shows liveness without a block per
// TimeoutCommit filling the disk.
//
// # Inherent leftovers
//
// CometBFT v0.38 leaves two goroutines per node stop that no caller can end
// (the consensus WAL's autofile is closed with closeFile, not Close: its
// SIGHUP handler and close ticker stay), and goleveldb's mpoolDrain outlives
// DB.Close by up to a second. Per-peer consensus goroutines can outlive
// Node.Stop briefly and read the closed block store; databases are wrapped so
// such reads see "not found" instead of panicking the process. With PEX on
// (off by default: xnode learns CometBFT peers from its own gossip and calls
// DialPeers), the address book is saved from a goroutine Close cannot wait
// for. CometBFT's Prometheus metrics are off because they would register on
// the global default registry. A stopping CometBFT switch leaves a connection
// it accepts meanwhile open and unserved, and the peer that dialled it then
// refuses the node restarted in the same process as a duplicate until its
// pong timeout (about 105 s); so filter_peers is on, and a peerGate in front
// of the application answers CometBFT's filter queries: every peer until
// Close begins, none after (the switch closes a connection it filters out).
//
// This package imports no other xnode package except the root error kinds;
// consensustest holds a multi-validator harness and a load generator for
// tests and benchmarks.
package consensus
