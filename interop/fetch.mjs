// Fetches /ipfs/CID from xnode's gateway with @helia/verified-fetch, a
// trustless client that checks every block it is served against its CID
// and walks the UnixFS DAG itself, and compares the bytes with FILE.
// Usage: node fetch.mjs GATEWAY_URL CID FILE
import { readFile } from 'node:fs/promises'

// Node 20 (Debian's) lacks Promise.withResolvers, which libp2p's queues
// use; it is the three lines below.
Promise.withResolvers ??= function () {
  let resolve, reject
  const promise = new Promise((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}
const { createVerifiedFetch } = await import('@helia/verified-fetch')
const { createHeliaLight } = await import('helia')
const { withHTTP } = await import('@helia/http')

const [gateway, cid, file] = process.argv.slice(2)
if (!gateway || !cid || !file) {
  console.error('usage: node fetch.mjs GATEWAY_URL CID FILE')
  process.exit(2)
}
const want = await readFile(file)
// A Helia node that reaches nothing but the gateway under test: no
// delegated routers, no libp2p, blocks only through the trustless-gateway
// broker (raw blocks, each hashed against its CID on arrival).
const light = createHeliaLight()
// Helia asks its ordinary routers before the gateways and, with none at
// all, waits for them forever: one that knows nothing lets it go on.
light.addRouter({ name: 'no-other-providers', async * findProviders () {} })
const helia = await withHTTP(light, {
  delegatedRouters: [],
  recursiveGateways: [gateway],
  allowInsecure: true,
  allowLocal: true
}).start()
const vf = await createVerifiedFetch(helia)
try {
  const res = await vf(`ipfs://${cid}`, { signal: AbortSignal.timeout(Number(process.env.FETCH_TIMEOUT_MS ?? 120_000)) })
  if (!res.ok) {
    throw new Error(`verified-fetch answered ${res.status} ${res.statusText}`)
  }
  const got = Buffer.from(await res.arrayBuffer())
  if (!got.equals(want)) {
    throw new Error(`verified-fetch got ${got.length} bytes that differ from the ${want.length} of ${file}`)
  }
  console.log(`verified-fetch: ${cid} fetched and verified, ${got.length} bytes, identical`)
} finally {
  await vf.stop()
  await helia.stop()
}
