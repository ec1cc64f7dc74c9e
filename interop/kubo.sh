#!/usr/bin/env bash
# Builds Kubo (the IPFS reference implementation) from its module source for
# `make interop`, into interop/.kubo/ipfs, and prints the binary's path.
#
# `go install github.com/ipfs/kubo/cmd/ipfs@VERSION` is refused because
# Kubo's go.mod has a replace directive; this builds it the way its own
# repository does, from the module's source in a temporary directory, with
# two edits to that copy's go.mod:
#   - the replace of go-libp2p by a fork is dropped (the fork's version is not
#     on the module proxy), so the released go-libp2p Kubo requires is used;
#   - quic-go and webtransport-go are held at the versions that go-libp2p
#     release builds with (Kubo's go.mod raises them for the fork).
# Both only touch QUIC/WebTransport code that the interop checks never use:
# they run Kubo offline, on its repo and CAR commands.
set -euo pipefail
cd "$(dirname "$0")"
KUBO_VERSION=${KUBO_VERSION:-v0.43.1}
out=$PWD/.kubo/ipfs
if [ -x "$out" ] && "$out" version 2>/dev/null | grep -q "${KUBO_VERSION#v}"; then
  echo "$out"; exit 0
fi
GO=${GO:-go}
src=$("$GO" mod download -json "github.com/ipfs/kubo@$KUBO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -n "$src" ] || { echo "kubo.sh: could not download github.com/ipfs/kubo@$KUBO_VERSION" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -r "$src" "$work/kubo" && chmod -R u+w "$work/kubo"
cd "$work/kubo"
"$GO" mod edit -dropreplace github.com/libp2p/go-libp2p \
  -replace github.com/quic-go/quic-go=github.com/quic-go/quic-go@v0.60.0 \
  -replace github.com/quic-go/webtransport-go=github.com/quic-go/webtransport-go@v0.11.1
echo "kubo.sh: building Kubo $KUBO_VERSION (a few minutes the first time)" >&2
mkdir -p "$(dirname "$out")"
GOFLAGS=-mod=mod "$GO" build -o "$out" ./cmd/ipfs
echo "$out"
