// Package dht is xnode's peer routing: a private Kademlia DHT (go-libp2p-kad-dht)
// that maps a peer id to its addresses, stores provider records for blob roots,
// and lets a node join a running network from a single bootstrap multiaddr.
//
// # Privacy
//
// The DHT runs in server mode under the protocol prefix "/xnode", so it speaks
// only /xnode/kad/1.0.0 and never registers or dials the public
// /ipfs/kad/1.0.0 protocol. The only bootstrap peers are the ones in Config;
// the public IPFS bootstrap list is never used.
//
// # Discovery
//
// Kademlia alone keeps a routing table but not necessarily open connections.
// GossipSub needs connections to converge, so a discovery loop advertises the
// node under the namespace /xnode/<network>/members (a provider record on the
// namespace's CID) and, while the node has fewer than Config.MinPeers
// connections, looks up other advertisers and dials them.
//
// # Rejoining
//
// A node with no connection at all cannot look anything up. Start dials the
// bootstrap peers together with Config.Remembered (the peers the node knew
// when it last ran), so a restarted node finds its network even when its
// bootstrap peers are gone. When the host loses its last connection, as when
// every peer restarts at once, the discovery loop redials the peers it knows
// (bootstrap, remembered, the ones whose connections closed, and those in the
// routing table) a second later, then after 2 s, 4 s and so on up to
// DiscoveryInterval, until one answers.
//
// # Lifecycle
//
// New checks the config and builds a Router; it starts nothing (kad-dht
// starts goroutines as soon as it is constructed, so the DHT itself is created
// in Start). Start creates the DHT, dials the bootstrap peers, bootstraps the
// routing table and starts the discovery loop. Close stops the loop, waits for
// it, then closes the DHT; it is idempotent. The libp2p host belongs to the
// caller and is never closed here.
//
// # Concurrency
//
// All methods of Router are safe for concurrent use. Lookups (FindPeer,
// FindProviders, Provide, Connect) take their deadline from the caller's
// context: callers should bound it.
//
// # Imports
//
// dht is an adapter: it imports the root package for error kinds and libp2p,
// never a sibling package (membership addresses reach Connect as plain
// multiaddrs).
package dht
