// Package gossip keeps the eventually consistent membership of an xnode
// network: who is in it, how to reach them, how much they store, and what
// they announce (tags, service prefixes), spread over GossipSub.
//
// # Design
//
// The protocol is two pure state machines with a thin libp2p adapter:
//
//   - Detector is a phi-accrual failure detector over heartbeat arrival
//     times. Time enters as arguments.
//   - Table is the membership state machine: Apply takes an announcement,
//     Tick takes the time, and both return Events (joined, updated, suspect,
//     failed, left). It never reads a clock and does no I/O.
//   - Service runs them: it publishes this node's Announcement every
//     HeartbeatInterval on /xnode/<chain-id>/members/1, metadata changes on
//     /xnode/<chain-id>/meta/1, validates what arrives, applies it, and ticks
//     the table every TickInterval.
//
// Messages are StrictSign. The topic validator rejects a payload that is
// over MaxMessageSize (checked before decoding), that does not decode, that
// names a peer other than its signer, or that repeats an old seq; rejections
// are counted in xnode_gossip_rejected_total{reason} and penalise the sender
// through GossipSub peer scoring. Seq is the sender's clock in Unix
// nanoseconds, kept strictly increasing, so a restarted node continues
// upward and a receiver can tell a slightly late message (ignored, not
// penalised: see Config.ReorderWindow) from a replay (rejected).
//
// A node drops its own messages when a peer hands them back, before
// GossipSub sees them. After a quick restart the peers still hold the
// node's last announcements from its previous run, and GossipSub would
// count each as an invalid message from the honest peer that forwarded it,
// enough to stop the two exchanging anything.
//
// Joins, suspicions, failures and leaves of other members are logged at
// INFO ("member joined" with the addresses, "member left", ...), keyed
// "member"; updates and this node's own events at DEBUG.
//
// The detector judges silence on this node's clock, so a tick that comes
// late (this node was paused: GC, CPU starvation) is skipped rather than
// blamed on peers whose heartbeats may still sit in local queues.
//
// Metadata is last-writer-wins by (seq, peer id); as only a peer may
// announce itself, that is: the highest seq wins. Live members — Alive and
// Suspect — are the ones placement counts: a suspect member may still hold
// data and a short pause must not move data. See Config for the detection
// window.
//
// # Concurrency and lifecycle
//
// NewPubSub builds the router; its ctx is owned by the caller and bounds the
// router's life. New builds a Service and starts nothing. Start joins the
// topics and starts three goroutines (heartbeat/tick loop and one receive
// loop per topic). Leave announces a graceful leave and stops heartbeats;
// Close stops and waits for the goroutines, cancels the subscriptions,
// closes the topics, unregisters the validators and closes event channels.
// Close is idempotent and closes neither the PubSub nor the host. Close the
// Service before cancelling the PubSub's context.
//
// All Service methods are safe for concurrent use. Detector and Table are
// not; the Service serialises them under one mutex. Subscribe hands out
// per-subscriber buffered channels; a full subscriber loses events (counted
// in xnode_gossip_events_dropped_total) rather than stalling membership, so
// consumers reconcile against Members().
//
// # Imports
//
// gossip imports only the root xnode package from this project, plus libp2p,
// pubsub, CBOR and Prometheus. It must not import overlay, storage, dht or
// consensus: placement and repair consume its events and tables, not the
// other way round.
package gossip
