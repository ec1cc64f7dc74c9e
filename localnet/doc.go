// Package localnet generates and runs an N-node xnode network on one
// machine, for people trying xnode and for end-to-end tests.
//
// Two forms share one layout of homes:
//
//   - Process mode (Generate, Up, Status, Down, StartNode, Kill, WaitReady): each node
//     is a background `xnode start --home DIR/nodeI` process in its own
//     process group, so it outlives the command that started it. Its output
//     goes to DIR/nodeI/xnode.log and its pid to DIR/nodeI/xnode.pid. The
//     network is described by DIR/localnet.json (names, homes, ports, peer
//     ids), which is also what marks DIR as ours: localnet never writes into
//     a non-empty directory without it.
//   - In-process mode (StartInProcess, NewInProcess, AddNode): the nodes run as
//     overlay.Node values inside a Go test, on free loopback ports, with
//     fast gossip and repair timings, and are closed by tb.Cleanup.
//
// Ports: node i of a process-mode network uses BasePort+10*i plus 0 (HTTP
// API), 1 (libp2p TCP, and QUIC on the same UDP port), 2 (CometBFT p2p) and
// 3 (CometBFT RPC). Every port is checked free before anything is written.
//
// The genesis names every node as a validator of equal power, and the
// replication factor is min(3, N). Nodes 1..N-1 join the libp2p overlay
// through node0; whenever a node is (re)started, its bootstrap list is
// pointed at the nodes of the network that are reachable at that moment,
// so any node can be restarted after any other was stopped.
//
// Concurrency: the functions of this package may be called from several
// goroutines, but two commands driving the same DIR at once (two `up`s)
// are not coordinated.
//
// localnet sits at the top of the dependency graph with cmd/xnode: it may
// import overlay and everything below it; nothing but cmd/xnode and tests
// import localnet.
package localnet
