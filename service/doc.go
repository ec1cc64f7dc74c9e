// Package service is the service plane's pure core: the catalog of service
// instances built from announcements, the balancer that picks an instance
// for each call, the outlier detector that ejects failing instances, and
// the retry budget.
//
// # Design
//
// Nothing here does I/O or reads a clock. Time enters as arguments, so the
// tests drive every decision with a fake clock and a table of outcomes.
//
//   - Catalog holds the instances of every service NAMESPACE/SERVICE, keyed
//     by (peer id, instance id). Announce adds or refreshes an instance,
//     Expire drops instances whose announcements stopped, DropPeer drops a
//     failed or departed member's instances at once, and Reject counts an
//     announcement the namespace does not authorise (the caller checks
//     authority; the catalog never sees such an instance).
//   - Balancer is a value, not a goroutine (Finagle, Linkerd):
//     Pick(now, filter) returns an instance and a Done to call with the
//     outcome and the latency. It chooses by power of two choices over a
//     peak-EWMA latency cost (decay Config.Decay, about 10 s) times
//     outstanding requests plus one, divided by the instance weight. An
//     instance with no history starts at Config.InitialLatency
//     (pessimistic) and every estimate decays toward zero while idle, so an
//     unexplored or recovered instance is tried again. It prefers
//     instances sharing the caller's zone tag while healthy ones exist.
//   - Outlier ejection follows Envoy's and gRPC's defaults: eject after 5
//     consecutive failures, or when at least 85% of at least 50 requests in
//     a 10 s interval failed; an ejection lasts 30 s × the times ejected, at
//     most 300 s; the last healthy instance is never ejected; when fewer
//     than half of the instances are healthy, the balancer uses them all
//     (panic mode).
//   - Budget wraps failsafe-go's retry budget: retries may be at most 20% of
//     the requests in flight, with at least 3 retries allowed at once.
//
// The adapter (package service/p2p and the overlay wiring) owns streams,
// timers and gossip; this package owns the decisions.
package service
