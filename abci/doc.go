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
// exact bytes and what the ed25519 signature covers). Build them with the
// New* constructors (NewRegisterNamespace, NewSubmitRecord, NewAttest,
// NewParamChange; and for accounts and stake NewSend, NewCreateValidator,
// NewRegisterNode, NewBond, NewUnbond, NewUnjail, NewNamespaceAllow,
// NewNamespaceDisallow); read them with DecodeTx and (*Envelope).Verify.
// DecodeTx refuses anything over MaxTxBytes before decoding, trailing
// bytes, unknown kinds or fields and non-canonical encodings, so one
// transaction has one byte form.
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
// # Accounts, stake and validators
//
// An account is an ed25519 key; its Address is the first 20 bytes of the
// key's SHA-256, written in bech32 as xnode1…. Genesis allocates balances
// (app_state.accounts) and may bond validators and nodes. CreateValidator
// binds a node's consensus key and libp2p peer id to an account (both node
// keys sign BindingBytes); RegisterNode admits a peer to placement. Power
// follows bonded stake; the top max_validators candidates (neither jailed
// nor tombstoned) are the desired set, and a CometBFT genesis validator no
// account is bound to stays at its genesis power (older genesis files).
// Unbond starts an entry that returns to the balance after unbonding_time
// of block time and stays slashable until then.
//
// The end of each block (endBlock) records absences from the last commit,
// jails a validator that missed more than (1 − min_signed) of
// signed_window blocks for jail_time, slashes slash_double_sign of a double
// signer's stake (bonded and unbonding) and tombstones it, returns matured
// unbondings, and sends CometBFT the validator updates the changes call
// for: sorted, one per key, never removing a validator CometBFT does not
// have, never emptying the set, and changing less than a third of the
// power in one block, the rest in later blocks. Only misses and changes
// are written, so a block every validator signed writes nothing.
//
// Spam: a chain without fees is protected by min_write_balance: writing a
// namespace, a record or a publisher needs that much balance, so keys
// nobody funded cannot write at all, and a funded account is accountable
// (and can be starved of funds by nobody but itself). Attestations are
// exempt: only validators may send them.
//
// # State layout
//
// The state is an IAVL tree (cosmos/iavl v1) in the app's badger DB under
// the prefix "s/", one saved version per height (see stateTree). Keys in
// the tree (pub = 32-byte ed25519 public key, addr = 20-byte address):
//
//	c                 chain id
//	p                 CBOR Params
//	a/<pub>           genesis admin
//	v/<pub>           validator power as CometBFT has it, int64 big endian
//	n/<name>          CBOR Namespace (with its allowed publishers)
//	r/<ns>/<key>      CBOR Record (current version and its attestations)
//	q/<ns>/<key>      pending index: present while the record is pending
//	x/<pub><n/256>    spent nonces n..n+255 as a 32-byte bitmap (n/256 as uint64 big endian)
//	b/<addr>          balance, uint64 big endian
//	k/<addr>          CBOR Stake: registration, bonded, unbonding, jail
//	e/<peer id>       addr of the account that registered the peer
//	g/<pub>           addr bound to a consensus key
//	h/<cons addr>     consensus key of a CometBFT validator address
//	u/<time><addr>    unbonding queue by release time (unix ns, big endian)
//	l/<pub>           CBOR heights a validator missed in the window
//	y                 validator updates still to send
//
// Markers hold the single byte 1 (IAVL reads an empty value as absent).
// Namespace names hold no '/', so <ns>/<key> splits at its first slash.
// Spent nonces are never pruned: they are the replay protection.
//
// # Determinism and the app hash
//
// FinalizeBlock depends only on the committed state and the request (its
// transactions, time, last commit and misbehaviour): no clock, no
// randomness, no goroutines, no map iteration order (staged writes are
// applied to the tree in sorted key order), canonical CBOR for every
// stored value, and a protocol-constant size limit (Config.MaxTxBytes only
// narrows the local mempool). The app hash of height h is the root hash of
// the tree's version h: the state after block h. InitChain's writes are
// saved together with the first block, so version 1 holds genesis and
// block 1, and InitChain returns the root of genesis alone. A block that
// writes nothing leaves the root, and so the app hash, unchanged: CometBFT
// then waits create_empty_blocks_interval for the next empty block.
//
// A record is verified once OK attestations carry more than 2/3 of the
// total voting power (3*ok > 2*total), failed once mismatches carry more
// than 1/3 (3*bad > total), else pending. Each attestation keeps the power
// its validator had when it was committed.
//
// # Queries and proofs
//
// Query serves the latest height or any retained one (Config.KeepRecent);
// with prove it answers the raw stored value and one ProofOpICS23 op, a
// membership or absence proof against the app hash in header Height+1.
//
// # Crash semantics
//
// FinalizeBlock stages in memory and applies the block to the tree's
// working copy to compute the hash; Commit saves the version and syncs the
// DB. IAVL writes a version's nodes before its root, and badger replays a
// prefix of its log, so a crash leaves either the whole version or the one
// before: Info reports that height and hash and CometBFT replays the block,
// reaching the same hash. Before the first Commit nothing is on disk, so
// CometBFT repeats InitChain after a crash there, harmlessly. A DB in the
// layout before the tree is refused (ErrOldLayout); ExportState still reads
// it, for `xnode export-genesis`.
//
// # Concurrency
//
// All ABCI methods may be called concurrently (CometBFT's connections run in
// parallel with an unsynchronised client). Info, InitChain, CheckTx,
// FinalizeBlock and Commit serialise on one mutex; Query reads the latest
// committed version without it (the version is immutable) and an older one
// under it, so that pruning never races a read. CheckTx runs against committed state plus the transactions
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
// This package imports only the root xnode package from the project (and
// libraries: CometBFT's types, iavl, ics23, libp2p's peer ids); it must not
// import consensus, overlay or any other sibling.
package abci
