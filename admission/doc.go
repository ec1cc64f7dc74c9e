// Package admission decides which peers take part in placement: the chain
// does (DESIGN.md "Placement": members are the live nodes whose peer id is
// registered on chain with at least min_node_stake bonded; validators count).
// Announcements of any other peer are those of an observer: it is listed,
// but it owns no block, counts toward no minimum, and causes no repair.
//
// # Design
//
// A pure core and a thin adapter, as in gossip:
//
//   - Registry is the chain's node list at one height (the ABCI query
//     /nodes, parsed by ParseNodes): a peer is admitted while its status is
//     "active", and, once jailed for missing blocks, for Config.JailGrace
//     more (the node sets it to the chain's jail_time): a validator that
//     was down a few minutes keeps its place and its blocks, one jailed
//     for long leaves placement. Unbonding and tombstoned peers leave at
//     once.
//   - Gate is the admission state machine. Registries enter through Apply
//     with the time, which returns the Change (peers admitted, peers whose
//     admission ended); Place says what placement does with a peer: count it,
//     keep it in place as gone since its admission ended (repair's grace
//     applies as to a member that left), or leave it out; Tick re-evaluates
//     the jail grace at a new time. It reads no clock and does no I/O, so it
//     is tested with tables.
//   - Watcher is the adapter: on every new block (a height channel from the
//     consensus node) it asks the chain for /nodes and applies the answer
//     only when it changed (else it only ticks the gate), and it reports
//     each Change to the node, which calls for a repair pass.
//
// # Old networks
//
// A chain whose genesis registers no node at all (no app_state.validators
// with a peer id and no app_state.nodes: an older genesis) is open: every
// announcing member takes part, as before admission existed. The mode is
// fixed by the genesis (GenesisRegistersNodes), not by the current node
// list, so that the first registration on an open chain cannot turn every
// other member into an observer at once.
//
// # Lifecycle and concurrency
//
// NewWatcher starts nothing; Refresh asks once, synchronously; Start runs
// the refresh loop until Close or the context ends; Close waits for it and
// is idempotent. Watcher's methods are safe for concurrent use; Gate and
// Registry are not (Registry is immutable once built).
//
// # Imports
//
// admission imports no sibling package: the chain reaches it through the
// small Source interface, and membership as peer ids.
package admission
