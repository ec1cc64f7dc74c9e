//go:build e2e

// Package e2e holds the end-to-end fault suite: real xnode processes started
// through the CLI and the localnet package, driven over the HTTP API, and
// broken with real signals (SIGKILL, SIGSTOP/SIGCONT). It checks the
// project's main promise: nothing acknowledged is lost while fewer than a
// third of the nodes fail.
//
// Every file carries the e2e build tag, so `go test ./...` skips it; run it
// with `make e2e`, which builds bin/xnode and runs
//
//	XNODE_BIN=$PWD/bin/xnode go test -tags e2e -count=1 -v -timeout 12m ./e2e/
//
// Without XNODE_BIN the suite builds the binary itself into a temporary
// directory. XNODE_E2E_SEED fixes the seed of the blob sizes and contents
// (default 1). The suite prints a summary at the end and writes it to
// e2e-summary.txt in the test's temporary directory (and to the file named by
// XNODE_E2E_SUMMARY when set).
//
// Scenarios, in order, as subtests of TestFaults:
//
//  1. write under fire: 4 nodes, R=3, 200 blobs (1 KiB..8 MiB, log-uniform)
//     from 4 concurrent clients with records every 10th blob; one node is
//     SIGKILLed a third of the way in. Every acknowledged blob reads back
//     byte-identical from every survivor; every record becomes verified; the
//     chain keeps committing; repair re-replicates around the dead node.
//  2. recovery: the killed node restarts, catches up to the same height and
//     app hash, and repair gives every block its R live replicas again.
//  3. pause: one node is SIGSTOPped for 20 s and continued; repair moves
//     (almost) nothing because the grace period outlasts the pause.
//  4. larger net: a fresh 7-node network; two nodes are SIGKILLed; reads keep
//     working during and after the faults.
//  5. shutdown: `xnode localnet down` leaves no process behind (run for each
//     network, the 4-node one before the 7-node one starts, so that the two
//     never share the two cores).
//
// The package has no non-test code besides this comment; it imports
// localnet and api, and nothing imports it.
package e2e
