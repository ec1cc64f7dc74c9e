// Computes the golden root CIDs of block/testdata/unixfs-golden.json with
// js-ipfs's UnixFS importer (ipfs-unixfs-importer), an implementation xnode
// does not use, set to what `ipfs add --cid-version 1 --raw-leaves
// --chunker size-1048576` does in Kubo: CIDv1, raw leaves, 1 MiB fixed
// chunks, balanced layout with at most 174 children per node, a single
// leaf as its own root. Run: node golden.mjs > ../block/testdata/unixfs-golden.json
//
// The bytes of a case are the first `size` bytes of the xorshift32 stream
// (13, 17, 5) from the state `seed`, each 32-bit output little-endian; the
// Go test regenerates them the same way (block/golden_test.go).
import { importBytes } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'

const MiB = 1024 * 1024
const SEED = 0x9e3779b9

export function xorshiftBytes (size, seed = SEED) {
  const out = new Uint8Array(Math.ceil(size / 4) * 4)
  const view = new DataView(out.buffer)
  let x = seed >>> 0
  for (let i = 0; i < out.length; i += 4) {
    x ^= x << 13; x >>>= 0
    x ^= x >>> 17
    x ^= x << 5; x >>>= 0
    view.setUint32(i, x, true)
  }
  return out.subarray(0, size)
}

const nullStore = { put: async (cid) => cid }

export const kuboOptions = {
  cidVersion: 1,
  rawLeaves: true,
  reduceSingleLeafToSelf: true,
  chunker: fixedSize({ chunkSize: MiB }),
  layout: balanced({ maxChildrenPerNode: 174 })
}

const cases = [
  ['empty', 0],
  ['one-byte', 1],
  ['one-mib', MiB],
  ['one-mib-plus-one', MiB + 1],
  ['three-mib-plus-seven', 3 * MiB + 7],
  ['174-mib', 174 * MiB],
  ['174-mib-plus-one', 174 * MiB + 1]
]

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = []
  for (const [name, size] of cases) {
    const entry = await importBytes(xorshiftBytes(size), nullStore, kuboOptions)
    out.push({ name, size, seed: SEED, cid: entry.cid.toString() })
  }
  console.log(JSON.stringify({
    tool: 'ipfs-unixfs-importer 17.1.1: cidVersion 1, rawLeaves, reduceSingleLeafToSelf, fixedSize 1048576, balanced maxChildrenPerNode 174',
    prng: 'xorshift32 (13, 17, 5) from seed, each output little-endian',
    cases: out
  }, null, 2))
}
