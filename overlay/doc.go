// Package overlay is the node: it builds the libp2p host, wires storage,
// block transfer, gossip membership, the DHT, the ABCI application, the
// embedded CometBFT node, the verifier, the scrubber and the HTTP API, and owns
// their lifecycles. It also holds what needs several of them at once:
// placement of blocks on their owners (weighted rendezvous over the live
// membership), the put and get paths, repair and rebalancing, and the genesis
// protocol a joining node uses.
//
// Lifecycle: New only checks its options. Start brings the parts up in
// dependency order (store, host, transfer, pubsub and gossip, DHT, app and
// CometBFT, repair and verification loops, API last) and, if any part fails,
// closes what it started. Close stops them in reverse order, waits for every
// goroutine the node started, and joins their errors; it is safe to call
// twice. Leave announces a graceful departure before Close.
//
// Repair: a join, or the end of the grace period of a member that failed or
// left, calls for a pass over the local index, which runs once membership
// has been quiet for RepairConfig.Settle; a periodic anti-entropy pass
// catches the rest. A member that left keeps its place for the grace like a
// failed one, because every shutdown, a restart included, announces a
// leave. A copy the node no longer owns is dropped only once it has been
// found droppable for twice the settle period (dropGate), so that nodes
// whose views differ for a moment do not push it back and forth. The put
// and get paths use only live members.
//
// Rejoining: the node keeps the members it knows in data/peers.json
// (rewritten within 10 s of a change and on Close) and hands them to the DHT
// at Start, which dials them with the bootstrap peers.
//
// Concurrency: a started Node is safe for concurrent use; the API calls it
// from many goroutines. Placement decisions take a snapshot of the membership
// (a view) so one put uses one consistent owner ranking.
//
// overlay may import every other package of the project except cmd and
// localnet; nothing but those two imports overlay.
package overlay
