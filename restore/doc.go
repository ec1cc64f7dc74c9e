// Package restore fetches again, from another owner, the blocks the local
// store found damaged, so that a damaged copy is replaced at once rather
// than at the next scrub (hourly) or never (a copy that repair still counts
// as held).
//
// The store reports each copy it drops as damaged (storage.Config.OnDamage:
// found by a read, or by the verification pass after a restart); the node
// hands the CID to Report. The Restorer keeps a set of pending blocks and,
// once started, fetches each through its Fetcher (the overlay's fetch path:
// the owners in rank order, then the other members, then DHT providers;
// every copy checked against its CID), and stores it back confirmed. A block
// whose fetch fails, as every fetch does in the first seconds after a restart
// before membership has been heard, is tried again after FirstRetry,
// doubling up to MaxRetry, until GiveUp has passed; after that it is left
// to the scrubber and to anti-entropy. A block the store holds again by then
// (repair pushed it, a read fetched it) is done without a fetch.
//
// Report may be called from any goroutine, before Start too (reports queue),
// and never blocks. New starts nothing; Start runs the loop; Close stops it
// and waits for the fetches in flight. Close is idempotent.
//
// restore imports block and the root package of the project, and reaches
// the network and the disk only through the small interfaces it declares.
package restore
