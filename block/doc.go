// Package block is xnode's content addressing: block CIDs, the chunker that
// cuts a stream into raw blocks, and the manifest codec that makes a blob's
// root (DESIGN.md, "Resources: chunks, manifests, CIDs", a contract).
//
//   - A chunk is a CIDv1 block with codec raw (0x55) and a sha2-256 multihash.
//   - A blob's root is a manifest block: CIDv1, codec dag-cbor (0x71), holding
//     {"size": total, "chunks": [{"cid": CID, "size": n}, ...]} in
//     deterministic (RFC 8949 core deterministic) CBOR with CIDs as tag 42, so
//     the same blob always yields the same root. Every blob has a manifest,
//     even an empty or one-chunk blob, so users see one kind of address.
//
// Everything here is pure: no I/O beyond the io.Reader handed to a Chunker,
// no globals that change, safe for concurrent use. It imports nothing from the
// project except the root error kinds.
package block
