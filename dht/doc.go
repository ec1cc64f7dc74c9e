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
