// Package abci is the deterministic ABCI 2.0 application (CometBFT v0.38:
// FinalizeBlock/Commit) behind xnode's verified data: namespaces, records
// (namespace/key → root CID and size, versioned), validator attestations
// and network parameters. It keeps its state in its own badger DB and is
// driven only through its ABCI methods; the consensus package embeds
// CometBFT and hands it an *App as an abcitypes.Application.
//
// # Transactions
//
// A transaction is a signed envelope, canonical CBOR (see Envelope for the
// exact bytes and what the ed25519 signature covers). Build them with
// NewRegisterNamespace, NewSubmitRecord, NewAttest and NewParamChange; read
// them with DecodeTx and (*Envelope).Verify. DecodeTx refuses anything over
// MaxTxBytes before decoding, trailing bytes, unknown kinds or fields and
// non-canonical encodings, so one transaction has one byte form.
//
// Replay protection: each (signer, nonce) pair is usable once, ever. Nonces
// need not be sequential, so one key may have many transactions in flight.
// Once a transaction's signature verifies in FinalizeBlock its nonce is
// spent, even if the transaction then fails on state.
//
// Every rejection is a response code (CodeBadEncoding, ...) with a log that
// says why; CodeError turns a code back into an error wrapping an xnode
// error kind. A Go error from an ABCI method halts the node, so one is
// returned only when the state DB itself fails.
//
// # State layout
//
// Keys in the badger DB (pub = 32-byte ed25519 public key):
//
//	m/meta            CBOR {Height, AppHash} of the last commit   (not hashed)
//	m/journal         a large block's writes during its commit   (not hashed)
//	c                 chain id
//	p                 CBOR Params
//	a/<pub>           genesis admin (empty value)
//	v/<pub>           validator power, int64 big endian
//	n/<name>          CBOR Namespace
//	r/<ns>/<key>      CBOR Record (current version and its attestations)
//	q/<ns>/<key>      pending index: present while the record is pending
//	x/<pub><nonce>    spent nonce, nonce as uint64 big endian (empty value)
//
// Namespace names hold no '/', so <ns>/<key> splits at its first slash.
// Spent nonces are never pruned: they are the replay protection.
//
// # Determinism
//
// FinalizeBlock depends only on the committed state and the block's
// transactions: no clock, no randomness, no goroutines, no map iteration
// order (staged writes are walked in sorted key order), canonical CBOR for
// every stored value, and a protocol-constant size limit (Config.MaxTxBytes
// only narrows the local mempool). The app hash chains per block:
//
//	hash_0 = sha256(digest(genesis writes))          (InitChain)
//	hash_h = sha256(hash_{h-1} || digest(writes of block h))
//	digest = sha256 over the block's writes in key order, each as
//	         uvarint(len key) key 0x00 (delete) | 0x01 uvarint(len val) val
//
// A record is verified once OK attestations carry more than 2/3 of the
// total voting power (3*ok > 2*total), failed once mismatches carry more
// than 1/3 (3*bad > total), else pending.
//
// # Crash semantics
//
// FinalizeBlock stages in memory; Commit writes the block's writes and the
// new m/meta in one badger transaction (fsynced). A crash between them
// leaves the DB at the previous height, Info reports that height and hash,
// and CometBFT replays the block, reaching the same hash. A block too large
// for one badger transaction is first written whole as m/journal together
// with m/meta (the commit point), then applied in batches; New finishes an
// interrupted journal before anything reads the state. InitChain commits
// genesis at height 0 after clearing the DB, so repeating it after a crash
// before the first block is harmless.
//
// # Concurrency
//
// All ABCI methods may be called concurrently (CometBFT's connections run in
// parallel with an unsynchronised client). Info, InitChain, CheckTx,
// FinalizeBlock and Commit serialise on one mutex; Query reads committed
// state in its own badger read transaction and is only held off while a
// commit writes. CheckTx runs against committed state plus the transactions
// it admitted since the last Commit; Commit resets that and CometBFT's
// recheck rebuilds it.
//
// # Metrics
//
// With a non-nil prometheus.Registerer, New registers
// xnode_abci_rejected_total{code} (code = CodeName, e.g. "replay"),
// counting rejections by CheckTx and FinalizeBlock. Close unregisters it,
// so a reopened App can register on the same registry.
//
// # Lifecycle
//
// New opens the DB and loads state; it starts no goroutine of its own. Close
// closes the DB (dropping anything staged, as a crash would) and is
// idempotent.
//
// This package imports only the root xnode package from the project; it
// must not import consensus, overlay or any other sibling.
package abci
