// Package block is xnode's content addressing: block CIDs, the chunker that
// cuts a stream into raw blocks, and the UnixFS file that makes a blob's
// root (DESIGN.md, "Resources: chunks, UnixFS roots, CIDs", a contract).
//
//   - A chunk is a CIDv1 block with codec raw (0x55) and a sha2-256
//     multihash: a UnixFS raw leaf.
//   - A blob's root is a UnixFS file: dag-pb (0x70) nodes over the raw
//     leaves in the balanced layout with at most MaxLinks (174) links per
//     node, CIDv1 sha2-256, exactly what `ipfs add --cid-version 1
//     --raw-leaves --chunker size-<chunk>` makes, so the same bytes get the
//     same root in xnode and in IPFS tools. A blob of one chunk is its own
//     raw root; the empty blob is the empty raw block.
//
// The nodes are built (Import) and parsed (DecodeNode) by ipfs/boxo's
// unixfs and merkledag packages, the importer Kubo itself uses; this package
// only arranges them: it streams chunks in and blocks out, and walks a DAG
// (Pieces, Walk) through a fetch function its caller supplies.
//
// Everything here is pure: no I/O beyond the io.Reader handed to a Chunker
// and the Fetcher handed to a walk, no globals that change after init, safe
// for concurrent use. It imports nothing from the project except the root
// error kinds.
package block
