// Package p2p is the service plane's thin libp2p adapter around the pure
// core in package service.
//
// Plane announces this node's exposed instances on the gossip services
// topic (gossip.ServiceTopic, validated and authorised there), keeps the
// catalog from everyone's announcements, runs the health checks of the
// local targets, serves calls to them, and makes calls to other nodes'
// instances:
//
//   - HTTP services travel as HTTP over libp2p streams: go-libp2p's
//     p2p/http host serves protocol /http/1.1 and mounts the service
//     handler at /xnode/svc/ (libp2p protocol /xnode/svc/1 in its
//     well-known map). The target sees X-Xnode-Caller: <caller peer id>;
//     the caller's deadline travels as X-Xnode-Timeout (milliseconds left).
//   - TCP services (and every forwarded port) travel on a plain stream,
//     /xnode/svc-tcp/1: a one-line request naming the service, a one-line
//     answer, then bytes both ways.
//
// Call (the gateway) picks an instance with the balancer, retries on
// another instance within the retry budget when the method is idempotent
// or when no byte reached the target, and streams the answer; a broken
// answer aborts the caller's response rather than passing for a success.
// Forward listens on a local port and tunnels each connection to an
// instance, as Kubo's p2p forward does.
//
// Start starts the loops; Close stops them and waits.
package p2p
