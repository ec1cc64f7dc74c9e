// Package peerguard cuts a node off from peers that break its protocols, so
// that a hostile peer flooding it with garbage costs it little: after a few
// violations the peer's connections are closed and new ones are refused by
// libp2p before any stream is opened, for a while.
//
// # Design
//
// Guard is a pure ban table driven by events, with time passed in:
//
//   - Strike(p, reason, now) records one violation. Config.Strikes
//     violations within Config.Window ban p for Config.Ban; each new ban of
//     the same peer lasts twice the previous one, up to Config.MaxBan. A
//     peer with neither a violation nor a ban for Config.Forget is
//     forgotten, and its next ban is a first one again.
//   - Banned(p, now) says whether p is banned.
//   - Connected and Disconnected tell the guard which peers are connected
//     from which IP addresses. A new ban also bans the addresses the peer
//     is connected from at that moment, for the ban's length, and
//     IPRefused(ip, now) reports whether a new connection from an address
//     is refused.
//
// Gater is the thin libp2p adapter: a connmgr.ConnectionGater whose
// InterceptAccept refuses a connection from a banned address before the
// security handshake, whose InterceptSecured refuses a banned peer id right
// after it, and whose InterceptPeerDial keeps this node from dialling a
// banned peer; it is also the network.Notifiee that feeds Connected and
// Disconnected. Its Strike logs one Warn per ban (peer, reason, until),
// never one per violation, and counts xnode_peerguard_strikes_total{reason},
// xnode_peerguard_bans_total and xnode_peerguard_refused_total{stage}.
// Cutting the banned peer's current connections is the caller's move
// (host.Network().ClosePeer), since only it holds the host.
//
// What counts as a violation is the reporting protocol's decision, and it
// must report only what no honest peer of any version does: a ban of an
// honest node would cut a replica holder off. The block protocol's choice
// is documented in overlay/transfer. GossipSub is not reported here: its
// peer scoring already graylists senders of junk.
//
// # Addresses: the trade-off
//
// A peer id costs nothing to make, so the peer-id ban alone lets a banned
// attacker come back at once under a new identity; the address ban makes
// it pay for a new address instead, and refuses it before the handshake,
// where a refusal is cheapest. Addresses are shared, though, so two rules
// keep the address ban from cutting honest peers:
//
//   - Loopback addresses are never banned: every node of a local network
//     (localnet, tests) connects from 127.0.0.1 or ::1.
//   - An address is not refused while a peer that is not banned is
//     connected from it (an honest peer behind the same NAT or on the same
//     host). The price: while such a peer stays connected, the banned
//     attacker at that address reaches the handshake again, and only its
//     banned peer id is refused there; fresh identities from that address
//     must each collect their own strikes. An honest peer that first
//     connects from a banned address during the ban is refused with the
//     attacker: the ban is short (Config.Ban, doubling only for repeat
//     offences) and the honest peer retries.
//
// Private (RFC 1918) addresses are banned like public ones: distinct hosts
// of a LAN have distinct addresses.
//
// # Memory
//
// The peer table holds at most Config.MaxPeers entries, and the address
// table as many: a Sybil flood of fresh peer ids evicts the least recently
// struck peers that are not banned, and only when every entry is banned the
// ban that ends first. The connection table holds one entry per live
// connection, which the resource manager bounds.
//
// # Concurrency and lifecycle
//
// A Guard is not safe for concurrent use; a Gater is (it serialises its
// Guard behind a mutex, and libp2p calls it from many goroutines). Neither
// starts a goroutine or holds a resource, so neither has Close.
//
// # Imports
//
// peerguard imports libp2p's core interfaces, go-multiaddr, the Prometheus
// client, the root error kinds and internal/promreg; it imports no sibling
// package, and overlay wires it.
package peerguard
