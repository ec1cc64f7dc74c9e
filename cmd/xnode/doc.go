// Command xnode runs and drives a node of the xnode overlay network.
//
// It is the only place that parses flags and prints for people: `init`,
// `start` and `join` build a home and run a node (package overlay) in the
// foreground until SIGINT or SIGTERM; the other commands talk to a running
// node through its HTTP API (package api's client); `localnet` runs several
// nodes on this machine (package localnet).
//
// Exit status: 0 on success, 1 on a failure the user can act on (the message
// on stderr says what to do), 2 on bad usage. --json switches every command
// to the machine-readable shapes of DESIGN.md's CLI contract.
package main
