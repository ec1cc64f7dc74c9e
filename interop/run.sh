#!/usr/bin/env bash
# Interop checks of xnode against IPFS tools nobody here wrote (make interop):
#   1. the root CID `xnode put` gives a file equals the one js-ipfs's UnixFS
#      importer gives it with Kubo's parameters (golden.mjs);
#   2. npm ipfs-car unpacks the CAR `xnode export` writes into the original bytes;
#   3. @helia/verified-fetch fetches the blob from xnode's trustless gateway
#      (/ipfs/{cid}) and verifies it;
#   4. a CAR that ipfs-car packs imports into xnode (`xnode import`) and reads back;
#   5. with Kubo (IPFS=path, built by kubo.sh): `ipfs add --cid-version 1
#      --raw-leaves --chunker size-1048576` gives the root CID `xnode put` gives,
#      and every golden CID of block/testdata/unixfs-golden.json;
#      `ipfs dag import` of xnode's CAR then `ipfs cat` gives the original bytes;
#      a CAR from `ipfs dag export` imports into xnode and reads back, also of
#      a file Kubo added with its defaults (CIDv0, dag-pb leaves, 256 KiB).
# It runs a single-node dev network on free loopback ports in a temporary
# home, and stops it at the end. Needs bin/xnode and `npm ci` in interop/.
set -euo pipefail
cd "$(dirname "$0")"
XNODE=${XNODE:-../bin/xnode}
IPFS=${IPFS:-}
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
freeport() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
api=127.0.0.1:$(freeport)
export XNODE_API=http://$api XNODE_HOME=$work/home
"$XNODE" start --api-listen "$api" --p2p-listen /ip4/127.0.0.1/tcp/0 \
  --cmt-p2p-listen 127.0.0.1:$(freeport) --cmt-rpc-listen 127.0.0.1:$(freeport) > "$work/node.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
  if curl -fsS "http://$api/health/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "xnode start exited:"; cat "$work/node.log"; exit 1; fi
  sleep 0.5
done
curl -fsS "http://$api/health/ready" >/dev/null || { echo "the node did not become ready:"; tail -20 "$work/node.log"; exit 1; }

if [ -n "$IPFS" ]; then
  # Kubo runs offline on a repo of its own: nothing but its repo and CAR commands.
  export IPFS_PATH=$work/ipfs
  "$IPFS" init --profile test > "$work/ipfs-init.log" 2>&1 || { cat "$work/ipfs-init.log"; exit 1; }
fi
ipfs() { "$IPFS" --offline "$@"; }

pass=0 fail=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; pass=$((pass+1)); else echo "FAIL $name"; fail=$((fail+1)); fi
}
# Two files: 3 MiB + 7 bytes (a root over 4 leaves) and 175 MiB + 1 byte
# (176 leaves: a root over two intermediate nodes).
for size in 3145735 183500801; do
  f=$work/data-$size.bin
  node -e 'const fs=require("fs");const {xorshiftBytes}=await import("./golden.mjs");fs.writeFileSync(process.argv[1],xorshiftBytes(+process.argv[2],0x2545F491))' "$f" "$size" 2>/dev/null ||
    node --input-type=module -e "import {xorshiftBytes} from './golden.mjs'; import fs from 'node:fs'; fs.writeFileSync('$f', xorshiftBytes($size, 0x2545F491))"
  cid=$("$XNODE" put "$f")
  want=$(node --input-type=module -e "
    import { importBytes } from 'ipfs-unixfs-importer'
    import { kuboOptions } from './golden.mjs'
    import fs from 'node:fs'
    const e = await importBytes(fs.readFileSync('$f'), { put: async c => c }, kuboOptions)
    console.log(e.cid.toString())")
  check "root CID of $size bytes equals the UnixFS importer's ($want)" test "$cid" = "$want"
  "$XNODE" export "$cid" -o "$work/$size.car"
  check "ipfs-car unpacks xnode export's CAR of $size bytes into the original" \
    sh -c "npx --no-install ipfs-car unpack '$work/$size.car' --output '$work/$size.out' && cmp '$work/$size.out' '$f'"
  check "@helia/verified-fetch fetches and verifies $size bytes from the gateway" node fetch.mjs "http://$api" "$cid" "$f"
  if [ -n "$IPFS" ]; then
    kubo=$(ipfs add -Q --only-hash --cid-version 1 --raw-leaves --chunker size-1048576 "$f")
    check "root CID of $size bytes equals Kubo's ipfs add --cid-version 1 --raw-leaves --chunker size-1048576 ($kubo)" test "$cid" = "$kubo"
    check "Kubo's ipfs dag import of xnode export's CAR, then ipfs cat, gives the $size bytes" \
      sh -c "'$IPFS' --offline dag import --stats '$work/$size.car' >/dev/null && '$IPFS' --offline cat '$cid' | cmp - '$f'"
  fi
done
# A CAR that ipfs-car packed imports into xnode and reads back.
small=$work/data-3145735.bin
npx --no-install ipfs-car pack "$small" --no-wrap --output "$work/packed.car" > "$work/packed.cid"
check "a CAR packed by ipfs-car imports into xnode and reads back" \
  sh -c "test \"\$('$XNODE' import '$work/packed.car')\" = \"\$(cat '$work/packed.cid')\" && '$XNODE' get \$(cat '$work/packed.cid') -o '$work/packed.out' && cmp '$work/packed.out' '$small'"
if [ -n "$IPFS" ]; then
  # The golden root CIDs the Go tests check (block/testdata) are Kubo's too.
  golden=../block/testdata/unixfs-golden.json
  for i in $(seq 0 $(($(node -e "console.log(require('$golden').cases.length)") - 1))); do
    gf=$work/golden.bin
    read -r gname gcid < <(node --input-type=module -e "
      import {xorshiftBytes} from './golden.mjs'; import fs from 'node:fs'
      const c = JSON.parse(fs.readFileSync('$golden')).cases[$i]
      fs.writeFileSync('$gf', xorshiftBytes(c.size, c.seed)); console.log(c.name, c.cid)")
    check "golden case $gname ($gcid) is what Kubo's ipfs add gives" \
      test "$(ipfs add -Q --only-hash --cid-version 1 --raw-leaves --chunker size-1048576 "$gf")" = "$gcid"
  done
  # Kubo -> xnode: a file Kubo added with xnode's parameters, exported by
  # ipfs dag export, imports into xnode and reads back byte-identical. One
  # added with Kubo's defaults (CIDv0 root, dag-pb leaves, 256 KiB chunks) is
  # no xnode DAG: the import refuses it saying how to add the file instead.
  kf=$work/kubo-added.bin
  node --input-type=module -e "import {xorshiftBytes} from './golden.mjs'; import fs from 'node:fs'; fs.writeFileSync('$kf', xorshiftBytes(5000000, 0x1234567))"
  kcid=$(ipfs add -Q --cid-version 1 --raw-leaves --chunker size-1048576 "$kf")
  ipfs dag export "$kcid" > "$work/kubo.car"
  check "a CAR from Kubo's ipfs dag export (ipfs add --cid-version 1 --raw-leaves --chunker size-1048576) imports into xnode and reads back" \
    sh -c "test \"\$('$XNODE' import '$work/kubo.car')\" = '$kcid' && '$XNODE' get '$kcid' -o '$work/kubo.out' && cmp '$work/kubo.out' '$kf'"
  v0=$(ipfs add -Q "$kf")
  ipfs dag export "$v0" > "$work/kubo-v0.car"
  check "a CAR of a file Kubo added with its defaults ($v0) is refused, saying how to add it" \
    sh -c "! '$XNODE' import '$work/kubo-v0.car' 2> '$work/v0.err' && grep -q -- '--cid-version 1 --raw-leaves' '$work/v0.err'"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
