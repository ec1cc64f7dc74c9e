#!/usr/bin/env bash
# Runs every benchmark the project reports in BENCHMARKS.md, each group with a
# fixed iteration count where a benchmark starts a network (so one network
# serves one measurement), and writes the raw output to bench.txt. Quote
# medians: `go run golang.org/x/perf/cmd/benchstat@latest bench.txt`.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
out=${OUT:-bench.txt}
: > "$out"
run() { echo "+ go test -p 1 $*" | tee -a "$out"; go test -p 1 -run '^$' "$@" | tee -a "$out"; }

# Pure cores and leaves (auto benchtime).
run -bench . -benchmem -count "$COUNT" ./block/ ./rendezvous/ ./api/
run -bench . -benchmem -count "$COUNT" -benchtime 4x ./storage/
# Issue 2: 64 MiB through the HTTP API vs raw badger, side by side.
run -bench 'Blob64MiB' -count "$COUNT" -benchtime 4x ./overlay/
# Issue 2: peak heap of a streamed 1 GiB put; idle RSS of `xnode start`.
run -bench 'Put1GiBPeakHeap' -count 3 -benchtime 1x ./overlay/
run -bench 'IdleRSS' -count 3 -benchtime 1x ./cmd/xnode/
# Issue 3: replicated put on 4 nodes (R=3) vs a raw libp2p stream, same hosts.
run -bench 'ReplicatedPut64MiB' -count "$COUNT" -benchtime 4x ./overlay/
run -bench . -count "$COUNT" -benchtime 5x ./overlay/transfer/
run -bench 'Convergence' -count 3 -benchtime 3x ./gossip/
# Issue 4: DHT convergence (12, 24 nodes) and FindPeer hops at 24.
run -bench . -count 3 -benchtime 3x ./dht/
# Issue 5: records committed per second, xnode app vs kvstore, 1 and 4 validators.
run -bench 'Commit' -count 3 -benchtime 2000x ./consensus/consensustest/
# Issue 22: the state tree: a 1000-transaction block, proofs, a verified read, CPU at rest.
run -bench 'FinalizeBlock' -benchmem -count "$COUNT" -benchtime 5x ./abci/
run -bench 'Proof' -count 3 -benchtime 2000x ./light/
run -bench 'VerifiedRead' -count 3 -benchtime 200x ./light/
run -bench 'IdleCPU' -count 1 -benchtime 1x ./consensus/consensustest/
# Issue 19: the service mesh against direct calls.
run -bench 'ServiceMesh' -count 3 -benchtime 1x ./service/p2p/
echo "raw results in $out"
