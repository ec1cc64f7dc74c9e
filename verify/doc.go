// Package verify checks content against its addresses: the verifier that
// validators run for verified-data records, and the scrubber every node runs
// over its own blocks.
//
// The verifier (Verifier) watches the chain for records whose current
// version this validator has not attested yet. For each it fetches the blob
// block by block, checks every block against its CID (even though the
// fetching path already did: the verifier trusts nothing it did not hash
// itself), checks each leaf's size against its UnixFS parent and the file's
// total size against the record, and submits
// an attestation: ok, or a mismatch with a reason. A blob that cannot be found
// is retried a few times before it is attested as missing; a transient
// failure (no owner answers) is never attested, only retried.
//
// The scrubber (Scrubber) re-reads every local block at an interval. The
// store checks each block as it reads it and drops a corrupt copy; the
// scrubber then fetches an intact copy from another owner and stores it.
//
// verify reaches the network only through the interfaces it declares (Chain,
// BlockSource, LocalStore); it imports the block package and the root error
// kinds and nothing else of the project. Start starts the loops; Close stops
// them and waits; both are safe to call once each, Close more than once.
package verify
