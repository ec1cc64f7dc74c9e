// Package storage is the node's local block store: chunks and manifests kept
// in a badger v4 database under <home>/data/blocks, with the local index that
// repair walks. It is local only: no network, no membership, no placement.
//
// # Integrity
//
// Every block is hashed and compared with its CID on the way in (Put refuses
// a mismatch and stores nothing) and on the way out (Get drops a copy whose
// bytes no longer match, counts it, logs it and returns an error wrapping
// block.ErrMismatch, which is xnode.ErrIntegrity). Wrong bytes are never
// returned (DESIGN.md, "Resources", a contract).
//
// # Durability
//
// With Config.SyncWrites (the default) every write that acknowledges data —
// a non-tentative Put or PutMany, and Confirm — returns only after the store
// is fsynced (badger's DB.Sync covers the value log and the memtable's WAL),
// so "durably stored" in the placement contract holds when it returns nil.
// Tentative Puts, the blocks of an upload in progress, are written but not
// synced: the upload is acknowledged only after Confirm, which syncs once for
// all of them. Concurrent syncs coalesce in the kernel. Once Config.WriteBehind
// bytes have piled up unsynced, the loop started by Start syncs in the
// background, so a large upload reaches the disk while it still arrives and
// its Confirm has little left to write; that sync acknowledges nothing.
//
// Puts from concurrent callers are committed together, in one badger
// transaction where they fit (writeGroup): each caller still returns only
// when its own blocks are committed, with that commit's outcome.
//
// # Tentative blocks
//
// An upload in progress stores its blocks tentatively; when the blob is
// acknowledged the overlay calls Confirm. GC removes tentative blocks older
// than Config.TentativeGrace: those are the orphans of aborted uploads. A
// confirmed block never goes back to tentative (a later tentative Put of it
// changes nothing), and a non-tentative Put confirms.
//
// # Key layout
//
// One badger database holds three key spaces; <cid> is the CID's binary form.
//
//	b/<cid>  block bytes. Values of at least Config.ValueThreshold bytes (every
//	         1 MiB chunk) live in the value log; the LSM tree holds a pointer.
//	s/<cid>  uvarint block size. Present exactly when b/<cid> is: it is what
//	         Has, Size, ForEach and the usage recount read, so none of them
//	         touches the value log.
//	t/<cid>  8-byte big-endian unix nanoseconds: since when the block has been
//	         tentative. Absent for a confirmed block; deleted by Confirm.
//
// The three keys of a block change together in one transaction. Badger's
// conflict detection keeps concurrent writers of the same CID honest (a
// conflicting transaction is retried), which is what keeps Usage exact.
//
// # Memory
//
// The badger knobs in Config are sized for a small idle footprint (see
// config.go). Badger v4 reads and writes the value log through shared memory
// maps, so chunks that went through the store stay counted in the process's
// RSS as mapped file pages (RssFile) until the kernel reclaims them; every
// 30 s the GC loop advises those mappings away (MADV_DONTNEED, Linux only),
// which leaves the pages in the page cache and the data untouched but stops
// an idle node from looking as large as its recent traffic.
//
// Written blocks also leave the page cache once synced (Config.DropWritten,
// Linux only): every WriteBehind bytes the loop syncs and drops the pages
// written since its last pass (posix_fadvise DONTNEED), up to the value log's
// write head, which it finds as the file's first hole. Pages cached by reads
// stay. Without this the page cache grows by every byte written, and each
// write takes pages from free memory; on a virtual machine that reports free
// memory to its host, each such page is faulted in from the host again, which
// made writes several times slower once a few hundred MiB had gone through.
//
// # Concurrency and lifecycle
//
// A Store is safe for concurrent use. Open opens badger and recounts usage
// from the s/ keys but starts no goroutine of ours; Start runs the periodic GC
// loop; Close stops that loop, waits for it and closes badger. Close is
// idempotent; calls after Close return ErrClosed.
//
// storage imports only the root xnode package and block from this project; it
// must not import any sibling that does I/O (overlay, gossip, dht, ...).
package storage
