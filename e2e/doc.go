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
// TestPartitions (partition_test.go) runs on a 4-node network of its own,
// each node in its own Linux network namespace joined by veth pairs to
// bridges the test creates and removes (10.77.0.x exists only inside those
// namespaces; the test reaches each API on the namespace's loopback through
// a socket opened inside it). It is skipped, saying why, when namespaces
// cannot be made (not root, no ip command):
//
//  6. partitions: 3|1 (a link down), then 2|2 (two bridges), each healed;
//     puts on the majority answer within 10 s of the split, the minority
//     commits nothing, repair moves no more than the replicas of what was
//     written during the split.
//  7. wipe: one node's data/blocks, then another node's data and
//     cometbft/data (keys kept); both come back and hold their blocks again.
//  8. corruption: a byte flipped in a segment under a running node, and one
//     in another node's segment while it is down; every read is exact and
//     the damaged copy is replaced.
//  9. hostile peer: this test binary, re-run in a fifth namespace as
//     TestHostileHelper, opens 10,000 block-protocol streams with garbage
//     and oversized frames and floods both gossip topics, while honest gets
//     on the target are timed against a baseline and its RSS is read.
//  10. checker: every acknowledged blob and committed record read from
//     every node, and one app hash per height on every node; a summary table.
//
// TestValidators (validators_test.go) runs on a 4-node network of its own:
//
//  11. open validator set: 6 blobs (1 KiB..3 MiB) and a verified record;
//     3 nodes started with `xnode join` from node0's multiaddr are
//     observers; `xnode validator create` on one before it is funded is
//     refused naming its balance; node0's operator funds each (`xnode
//     send`) and each bonds a genesis stake (`xnode validator create
//     --stake 1000000` against its own API) until `xnode validators` lists
//     7 active at full power and every node 7 members. node2 and node3 are
//     SIGKILLed: the chain keeps committing on 5 of 7, a new record is
//     verified with the joined validators' attestations, and every blob
//     reads back byte-identical from the 5 survivors, at once and after
//     the repair grace. Its summary is printed, and appended to
//     $XNODE_E2E_SUMMARY.
//
// The package has no non-test code besides this comment; it imports
// localnet, api and internal/testutil, and nothing imports it.
package e2e
