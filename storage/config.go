package storage

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// Config configures a Store. The badger knobs are sized so that an idle node
// stays small (the whole node must idle under 150 MiB RSS) while 1 MiB chunks
// still stream at disk speed; badger's own defaults assume a dedicated
// database server (64 MiB memtables x 5, a 256 MiB block cache, 1 GiB value
// log files).
type Config struct {
	// Dir is the badger directory, normally <home>/data/blocks. Required
	// unless InMemory.
	Dir string
	// InMemory keeps everything in memory and ignores Dir. For tests only:
	// nothing survives Close.
	InMemory bool `toml:"-"`
	// SyncWrites makes every acknowledging write — a non-tentative Put or
	// PutMany, and Confirm — return only after the store is fsynced. Default
	// true: the placement contract acknowledges a put only once owners have
	// the block durably stored, and a blob is acknowledged only after its
	// blocks are confirmed. Tentative writes are not synced on their own: no
	// one has been told they are safe, and Confirm syncs them all at once.
	SyncWrites bool
	// WriteBehind is how many bytes may be written without a sync before
	// the store starts one in the background (when Start has run and
	// SyncWrites is on). It only moves work earlier: a large upload's
	// blocks reach the disk while the rest still arrive, so the sync that
	// acknowledges it has little left to write. It never acknowledges
	// anything. Default 16 MiB; 0 turns it off.
	WriteBehind int64
	// DropWritten has the store's loop drop the segment pages of written
	// blocks from the page cache once they are synced, at most every
	// WriteBehind bytes (Linux; needs WriteBehind and SyncWrites). Default
	// true. A block store writes far more than it reads straight back, and
	// left cached, written blocks grow the page cache until the kernel must
	// reclaim it, with every write taking a page from free memory. A virtual
	// machine that reports free memory back to its host (free page
	// reporting, as Firecracker guests do) must have such a page faulted in
	// from the host again, which made large writes several times slower.
	// Dropped, the same few pages are used again before they are reported.
	// Only pages written since the last pass are dropped; pages cached by
	// reads stay.
	DropWritten bool
	// TentativeGrace is how long a tentative (unconfirmed) block may live
	// before GC removes it as the orphan of an aborted upload. Default 1h:
	// far longer than any upload should take to be acknowledged.
	TentativeGrace time.Duration
	// GCInterval is the cadence of the GC loop (orphan removal, then
	// segment compaction and badger value-log GC). Default 10m.
	GCInterval time.Duration

	// MemTableSize is the size of one badger memtable in bytes. Default
	// 16 MiB (badger: 64 MiB). Chunks live in segment files, so a memtable
	// holds only keys, sizes and locations (~100 bytes a block): 16 MiB
	// is ~150k blocks between flushes. Badger caps one transaction at 15% of
	// it, which is why it may not go below 4 MiB.
	MemTableSize int64
	// NumMemtables is how many memtables (the mutable one plus those waiting
	// to be flushed) may be in memory. Default 2 (badger: 5): flushing
	// keys-only tables is fast, so one spare is enough, and it caps memtable
	// memory at 2 x MemTableSize.
	NumMemtables int
	// NumLevelZeroTables is how many level-0 tables accumulate before
	// compaction into level 1 starts. Default 3 (badger: 5): fewer small
	// tables to keep indexes and bloom filters of in memory. Writes stall at
	// 15 level-0 tables (badger's default, not exposed).
	NumLevelZeroTables int
	// NumCompactors is the number of compaction goroutines. Default 2, the
	// least badger accepts (it refuses 1); our LSM tree is small, and each
	// compactor holds buffers while it works.
	NumCompactors int
	// BlockCacheSize is the size in bytes of badger's cache of LSM table
	// blocks. Default 8 MiB (badger: 256 MiB). The LSM tree holds only keys
	// and metadata, and tables are uncompressed and memory-mapped, so the
	// cache mostly saves re-decoding hot index blocks; chunk reads never
	// touch it (they are segment reads).
	BlockCacheSize int64
	// IndexCacheSize bounds in bytes the memory held by table indexes and
	// bloom filters. Default 8 MiB. 0 means badger keeps every index in
	// memory, which grows with the number of blocks stored; a bound keeps a
	// large store's idle footprint flat at the cost of re-reading an evicted
	// index from the mmapped table.
	IndexCacheSize int64
	// ValueLogFileSize is the size in bytes at which badger starts a new
	// value-log file. Default 256 MiB (badger: 1 GiB). Block bytes now live
	// in segments (SegmentFileSize); badger's value log holds only those of
	// a home written before them (see doc.go). Value-log GC rewrites
	// a whole file at a time, so smaller files reclaim space from deleted
	// blocks with less copying; the cost is one open file per 256 MiB stored
	// (Go raises the soft open-file limit to the hard limit at start). It
	// must hold the largest block (4 MiB) and stay under 2 GiB.
	ValueLogFileSize int64
	// ValueThreshold is the value size in bytes from which a badger value
	// goes to the value log instead of the LSM tree. Default 1 KiB. Every
	// index value is a few bytes and stays in the LSM tree; only the inline
	// block bytes of an InMemory store or an old home are large enough to
	// reach the value log. Badger allows at most 1 MiB and at most 15% of
	// MemTableSize.
	ValueThreshold int64

	// SegmentFileSize is the size in bytes at which the store starts a new
	// segment file for block bytes (see doc.go, "Layout"). Default 256 MiB.
	// Compaction rewrites a whole segment at a time, so smaller files
	// reclaim space from deleted blocks with less copying; the cost is one
	// open file per segment. It must hold the largest block (4 MiB) with its
	// record header.
	SegmentFileSize int64
	// VerifyOnStart has Start read every stored block once, in the
	// background, and check it against its CID, so that a copy damaged
	// while the node was down (a flipped byte, a torn write at a crash, a
	// truncated file) is found, dropped and reported to OnDamage at once
	// rather than at the next read or scrub. Default true. The pass reads at
	// disk speed and leaves no page cached.
	VerifyOnStart bool

	// OnDamage, when set, is called once for every stored copy found
	// damaged (bytes that no longer match the CID, or that cannot be read
	// back whole) and dropped, by a read or by the verification pass, so
	// that the caller can fetch it again from another owner. It is called
	// from the goroutine that found the damage and must not block or call
	// back into the store.
	OnDamage func(Damage) `toml:"-"`

	// Now is the clock GC uses to age tentative blocks. nil means time.Now;
	// tests set it to age blocks without waiting.
	Now func() time.Time `toml:"-"`
}

// Defaults of Config (see the field docs for why).
const (
	DefaultTentativeGrace     = time.Hour
	DefaultGCInterval         = 10 * time.Minute
	DefaultWriteBehind        = 16 << 20
	DefaultMemTableSize       = 16 << 20
	DefaultNumMemtables       = 2
	DefaultNumLevelZeroTables = 3
	DefaultNumCompactors      = 2
	DefaultBlockCacheSize     = 8 << 20
	DefaultIndexCacheSize     = 8 << 20
	DefaultValueLogFileSize   = 256 << 20
	DefaultValueThreshold     = 1 << 10
	DefaultSegmentFileSize    = 256 << 20
)

// Bounds checked by Validate.
const (
	minMemTableSize     = 4 << 20
	maxValueThreshold   = 1 << 20 // badger's limit
	maxValueLogFileSize = 2<<30 - 1
	maxSegmentFileSize  = 1 << 40
	// minSegmentFileSize holds the largest block's record: data, header
	// and a CID (well under 128 bytes).
	minSegmentFileSize = block.MaxChunkSize + 4096
	l0StallTables      = 15 // badger's NumLevelZeroTablesStall default
)

// DefaultConfig returns the default configuration for a store in dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:                dir,
		SyncWrites:         true,
		WriteBehind:        DefaultWriteBehind,
		DropWritten:        true,
		TentativeGrace:     DefaultTentativeGrace,
		GCInterval:         DefaultGCInterval,
		MemTableSize:       DefaultMemTableSize,
		NumMemtables:       DefaultNumMemtables,
		NumLevelZeroTables: DefaultNumLevelZeroTables,
		NumCompactors:      DefaultNumCompactors,
		BlockCacheSize:     DefaultBlockCacheSize,
		IndexCacheSize:     DefaultIndexCacheSize,
		ValueLogFileSize:   DefaultValueLogFileSize,
		ValueThreshold:     DefaultValueThreshold,
		SegmentFileSize:    DefaultSegmentFileSize,
		VerifyOnStart:      true,
	}
}

// ErrConfig is an invalid Config.
var ErrConfig = fmt.Errorf("storage: %w: config", xnode.ErrInvalidArgument)

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrConfig, field, v, why)
	}
	switch {
	case c.Dir == "" && !c.InMemory:
		return bad("Dir", `""`, "required unless InMemory")
	case c.WriteBehind < 0:
		return bad("WriteBehind", c.WriteBehind, "must not be negative")
	case c.TentativeGrace <= 0:
		return bad("TentativeGrace", c.TentativeGrace, "must be positive")
	case c.GCInterval <= 0:
		return bad("GCInterval", c.GCInterval, "must be positive")
	case c.MemTableSize < minMemTableSize:
		return bad("MemTableSize", c.MemTableSize, fmt.Sprintf("must be at least %d", minMemTableSize))
	case c.NumMemtables < 1:
		return bad("NumMemtables", c.NumMemtables, "must be at least 1")
	case c.NumLevelZeroTables < 1 || c.NumLevelZeroTables >= l0StallTables:
		return bad("NumLevelZeroTables", c.NumLevelZeroTables, fmt.Sprintf("must be in [1, %d)", l0StallTables))
	case c.NumCompactors < 2:
		return bad("NumCompactors", c.NumCompactors, "badger needs at least 2")
	case c.BlockCacheSize < 0:
		return bad("BlockCacheSize", c.BlockCacheSize, "must not be negative")
	case c.IndexCacheSize < 0:
		return bad("IndexCacheSize", c.IndexCacheSize, "must not be negative")
	case c.ValueLogFileSize < 4*block.MaxChunkSize || c.ValueLogFileSize > maxValueLogFileSize:
		return bad("ValueLogFileSize", c.ValueLogFileSize, fmt.Sprintf("must be in [%d, %d]", 4*block.MaxChunkSize, maxValueLogFileSize))
	case c.ValueThreshold < 1 || c.ValueThreshold > maxValueThreshold:
		return bad("ValueThreshold", c.ValueThreshold, fmt.Sprintf("must be in [1, %d]", maxValueThreshold))
	case c.ValueThreshold > c.MemTableSize*15/100:
		return bad("ValueThreshold", c.ValueThreshold, fmt.Sprintf("must be at most 15%% of MemTableSize (%d)", c.MemTableSize*15/100))
	case !c.InMemory && (c.SegmentFileSize < minSegmentFileSize || c.SegmentFileSize > maxSegmentFileSize):
		return bad("SegmentFileSize", c.SegmentFileSize, fmt.Sprintf("must be in [%d, %d]", minSegmentFileSize, maxSegmentFileSize))
	}
	return nil
}

// badgerOptions turns a valid Config into badger options.
func (c Config) badgerOptions(log *slog.Logger) badger.Options {
	dir := c.Dir
	if c.InMemory {
		dir = "" // badger refuses a directory in memory mode
	}
	return badger.DefaultOptions(dir).
		WithInMemory(c.InMemory).
		// Durability is the Store's job, not badger's: it fsyncs (DB.Sync)
		// when a write is acknowledged — a confirmed Put, or Confirm — and
		// leaves tentative writes of an upload in progress unsynced, so an
		// upload costs one fsync at its confirmation, not one per chunk.
		WithSyncWrites(false).
		WithLogger(badgerLogger{log: log}).
		// Badger's metrics go to the process-global expvar map, which two
		// stores in one process would share; ours go to the Registerer.
		WithMetricsEnabled(false).
		// Chunks are user bytes, often already compressed, and live in the
		// value log anyway; the LSM tree is tiny. No compression also means
		// badger needs no block cache to read tables.
		WithCompression(options.None).
		WithMemTableSize(c.MemTableSize).
		WithNumMemtables(c.NumMemtables).
		WithNumLevelZeroTables(c.NumLevelZeroTables).
		WithNumLevelZeroTablesStall(l0StallTables).
		WithNumCompactors(c.NumCompactors).
		WithBlockCacheSize(c.BlockCacheSize).
		WithIndexCacheSize(c.IndexCacheSize).
		WithValueLogFileSize(c.ValueLogFileSize).
		WithValueThreshold(c.ValueThreshold).
		// Exactly one version of a key is ever useful here.
		WithNumVersionsToKeep(1).
		// Conflict detection is what keeps the usage counters exact under
		// concurrent writers of one CID (the loser retries).
		WithDetectConflicts(true)
}

// now returns the configured clock.
func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}
