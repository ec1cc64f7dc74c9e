// Package storage is the node's local block store under <home>/data/blocks:
// block bytes in append-only segment files the store manages, and a badger
// v4 database holding the index (where each block is, its size, whether it
// is tentative) that repair walks. It is local only: no network, no
// membership, no placement.
//
// # Integrity
//
// Every block is hashed and compared with its CID on the way in (Put refuses
// a mismatch and stores nothing) and on the way out (Get drops a copy whose
// bytes no longer match, counts it, logs it and returns an error wrapping
// block.ErrMismatch, which is xnode.ErrIntegrity). Wrong bytes are never
// returned (DESIGN.md, "Resources", a contract). A copy that cannot be read
// back whole (a truncated or missing segment) is damaged in the same way.
//
// A corrupted byte on disk costs at most the block it is in (DESIGN.md,
// the same contract). Each damaged copy is dropped and reported to
// Config.OnDamage, so that the node fetches it again from another owner at
// once (package restore), and counted in xnode_storage_damaged_blocks_total.
// With Config.VerifyOnStart (the default) Start reads every block once in
// the background (VerifyAll), so that damage done while the node was down is
// found within seconds of a restart, not at the next read or hourly scrub.
//
// # Why segment files, not badger's value log
//
// Until this layout, block bytes were badger values in its value log. When
// badger opens, it replays the newest value-log file to find where it ends,
// and the first entry whose checksum fails ends it: badger truncates the
// file there. One flipped byte inside one block therefore cut off every
// block written after it in that file (up to 256 MiB of them), while the
// index still pointed at them ("Unable to read ... ErrEOF"), and nothing
// noticed until a read or the scrub. Badger has no option that stops this
// (badger v4.9.6, value.go, valueLog.open): ReadOnly skips the truncation
// but cannot write; WithVerifyValueChecksum only checks values as they are
// read; a ValueThreshold above the chunk size would put chunks in the LSM
// tree, whose write-ahead log (the memtable's .mem file) is replayed and
// truncated the same way, and whose compactions would rewrite every chunk
// several times (badger caps the threshold at 1 MiB anyway, and chunks go
// up to 4 MiB).
//
// So the store keeps block bytes itself. A segment is written only by
// appending, and a block is found by the offset the index gives, never by
// parsing the segment: nothing is replayed at open, and a bad byte in one
// record, its header included, cannot make another record unreadable. The
// CID check of every read is the checksum. The write path does no more than
// before (one pwrite of the bytes where badger copied them into its map,
// plus a small index entry), and it gives up badger's value-log buffer, grown
// afresh for every write; see BENCHMARKS.md, issue 21, for the put and get
// figures before and after.
//
// What badger still holds is the index, tiny next to the blocks: about 100
// bytes a block. Its own write-ahead log can still be truncated at a damaged
// entry on open, which loses the index entries after it in the unflushed
// memtable; those blocks' bytes stay in their segment, unreferenced, and the
// other owners' next repair pass, finding this node without them, places
// them on it again. Each record's header (magic, checksum, lengths, CID)
// lets Reindex rebuild those entries from the segments alone (see
// "Re-indexing"), which is what saves them where no other owner has a copy.
//
// # Durability
//
// With Config.SyncWrites (the default) every write that acknowledges data —
// a non-tentative Put or PutMany, and Confirm — returns only after the store
// is fsynced (the segments written since the last sync first, then badger's
// DB.Sync for the index), so "durably stored" in the placement contract
// holds when it returns nil. The bytes reach a segment before the index
// entry that points at them is committed; an index entry that reaches the
// disk before its bytes (badger may flush a memtable at any time) points at
// a short or unwritten record after a crash, which the verification pass
// finds damaged and reports.
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
// # Layout
//
// <home>/data/blocks is badger's directory, and segments/ in it holds the
// segment files, NNNNNNNN.seg, each at most Config.SegmentFileSize (256 MiB).
// A segment record is a header (magic, checksum, lengths, the CID) and the
// block's bytes (see segments.go). Appends go to the newest segment, from
// its end, also after a restart: a torn record at the end of a crashed write
// is left behind as garbage, never parsed.
//
// Badger holds these key spaces; <cid> is the CID's binary form.
//
//	l/<cid>  where the bytes are: uvarint segment, offset of the data, length.
//	s/<cid>  uvarint block size. Present exactly when the block is held: it
//	         is what Has, Size, ForEach and the usage recount read, so none
//	         of them touches the bytes.
//	t/<cid>  8-byte big-endian unix nanoseconds: since when the block has been
//	         tentative. Absent for a confirmed block; deleted by Confirm.
//	b/<cid>  block bytes kept in badger itself, in place of l/: an InMemory
//	         store's (tests), and those of blocks written before segment
//	         files, which a home from before keeps reading (README, "Block
//	         storage format"). Get reads b/ first when it is present.
//
// The keys of a block change together in one transaction. Badger's conflict
// detection keeps concurrent writers of the same CID honest (a conflicting
// transaction is retried), which is what keeps Usage exact. A block's bytes
// are appended at most once per Put, however often its transaction is rerun.
//
// # Compaction
//
// Deleting a block deletes its index keys; its record stays in its segment
// as garbage. The store counts each segment's live bytes, and GC rewrites a
// sealed segment once less than half of it is live: each live block is read,
// checked against its CID (a damaged one is dropped and reported, not
// copied), appended to the newest segment, and re-pointed in the index,
// unless it was deleted or stored again meanwhile; then the new copies are
// synced and the old file is removed. A read that raced with the removal
// looks its block up again. xnode_storage_compacted_segments_total counts
// removed segments.
//
// # Re-indexing
//
// Store.Reindex (xnode storage reindex, through ReindexDir, on a stopped
// node) walks every segment from offset 0, record by record by its header,
// and checks each record's bytes against its CID. A whole record whose block
// has no s/ key gets the entries a confirmed Put writes (l/ pointing at it,
// s/, no t/), and Usage and the segment's live bytes move as a Put's do, so
// compaction stays exact. Of several whole copies of one block (compaction
// copied it and had not removed the old file) one is indexed. A record whose
// header fails its magic, checksum or bounds, or whose bytes do not match
// its CID, is skipped, and the walk goes on at the next record magic after
// its start, never by its lengths: one bad byte costs only its record, and
// a record torn by a crash and followed by the appends made after the
// restart does not hide them. A record cut short by the end of its file is
// a torn tail and ends that segment. Nothing of this is an error; the
// report counts each case. Blocks of an old home kept inline in badger
// (b/) are not in segments, and not covered.
//
// A block re-indexed comes back confirmed, whatever it was: also one the
// node had deleted whose record compaction had not removed yet (a copy
// repair dropped, an aborted upload's orphan that GC or Abandon removed).
// That is harmless: its bytes are checked, and repair drops a copy the node
// does not own on its next pass. Losing an acknowledged block is not.
//
// It does not run on its own, at Open or Start, because nothing says when
// it is needed or which part of the segments it would have to read. Badger
// truncates a damaged write-ahead log silently (no error, no log line), and
// each memtable's file on its own, so a mark of "indexed up to here" kept in
// badger can survive in a newer file while entries before it were lost in
// an older one; the only point known complete is a clean Close, and a crash
// is when the walk is needed. An unflushed memtable covers up to ~150k
// blocks (MemTableSize 16 MiB at ~100 bytes a block), some 150 GiB of 1 MiB
// chunks, so the tail after a crash is in practice everything written since
// the node last started. The walk reads and hashes every byte it covers:
// 1 GiB of 1 MiB blocks, from a cold page cache, in about 0.75 s on a
// 2-core virtual machine (BenchmarkReindex1GiB), so a walk at every start
// would cost over a minute per 100 GiB stored, and it would also bring back
// at every start every block deleted since the last compaction. So it is an operator's step after a
// crash that lost blocks on a node that held the only copy (R = 1, or the
// other owners lost theirs); with other owners, repair places the blocks
// again without it.
//
// # Badger options
//
// Badger's options come from Config (config.go documents each): small
// memtables, caches and level-0 table counts so that an idle node stays
// small (the index is small), no compression, one version per key, conflict
// detection on, and badger's own SyncWrites off, because the store syncs
// when it acknowledges. ValueThreshold and ValueLogFileSize now matter only
// for the inline b/ values of an old home; every index value is far under
// the threshold and stays in the LSM tree.
//
// # Memory
//
// The badger knobs in Config are sized for a small idle footprint (see
// config.go). Segments are written with pwrite and read through read-only
// shared memory maps (a copy in user space; pread cost a system call per
// block, which made reads slower than badger's mapped value log), and
// badger maps its value log, which now holds only the blocks of an old home.
// So blocks that were served stay counted in the process's RSS as mapped
// file pages (RssFile) until the kernel reclaims them; every 30 s the GC
// loop advises those mappings away (MADV_DONTNEED, Linux only), which leaves
// the pages in the page cache and the data untouched but stops an idle node
// from looking as large as its recent traffic. A read that touches a map
// past the end of a truncated segment faults; the fault is caught and the
// read fails as damaged. The verification pass and compaction read with
// pread, so that their pages can leave the page cache.
//
// Written blocks also leave the page cache once synced (Config.DropWritten,
// Linux only): every WriteBehind bytes the loop syncs and drops the segment
// pages written since its last pass (posix_fadvise DONTNEED), up to the
// page being written. Pages cached by reads before that stay. Without this
// the page cache grows by every byte written, and each write takes pages
// from free memory; on a virtual machine that reports free memory to its
// host, each such page is faulted in from the host again, which made writes
// several times slower once a few hundred MiB had gone through. The
// verification pass drops the pages it reads, so that it does not fill the
// page cache with the whole store.
//
// # Concurrency and lifecycle
//
// A Store is safe for concurrent use. Open opens badger and the segments and
// recounts usage from the index but starts no goroutine of ours; Start runs
// the periodic GC loop and the verification pass; Close stops them, waits
// for them and closes badger and the segments. Close is idempotent; calls
// after Close return ErrClosed. Config.OnDamage is called from whichever
// goroutine found the damage.
//
// storage imports only the root xnode package and block from this project; it
// must not import any sibling that does I/O (overlay, gossip, dht, ...).
package storage
