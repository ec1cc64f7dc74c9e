package api

import (
	"context"
	"io"
	"time"

	"github.com/ipfs/go-cid"
)

// Node is what the API serves. The overlay's node satisfies it; the API never
// imports the overlay. Every method is called concurrently from many request
// goroutines and must honour ctx: the API cancels it when the client goes away,
// when a non-streaming call passes Config.RequestTimeout, and on a forced
// shutdown.
//
// Errors should wrap the kinds of the root package (xnode.ErrNotFound, ...):
// the API maps them onto the error taxonomy in one place (codeFor).
type Node interface {
	// Status describes this node.
	Status(ctx context.Context) (Status, error)
	// Ready reports readiness: each named check ok or not, with a reason.
	Ready(ctx context.Context) []Check
	// Members returns the membership table as this node sees it.
	Members(ctx context.Context) ([]Member, error)
	// PutBlob stores the blob read from r and returns once it is durably
	// placed. It streams r and must not buffer the whole blob. If reading r
	// fails (body over the limit, client gone), PutBlob must return an error
	// and acknowledge nothing.
	PutBlob(ctx context.Context, r io.Reader) (PutResult, error)
	// OpenBlob opens the blob whose root is c; an error wrapping
	// xnode.ErrNotFound when it is unknown.
	OpenBlob(ctx context.Context, c cid.Cid) (Blob, error)
	// GetBlock returns the bytes of block c, checked against c, from
	// wherever it is held; an error wrapping xnode.ErrNotFound when no
	// member has it.
	GetBlock(ctx context.Context, c cid.Cid) ([]byte, error)
	// ImportCAR reads a CAR stream from r, checks every block against its
	// CID before it is stored, places each block on its owners, and returns
	// once every block is durably placed and every root's DAG is whole. A
	// bad block, a truncated CAR, a CAR without roots or missing a block of
	// a root's DAG is an error wrapping xnode.ErrInvalidArgument, and
	// nothing is acknowledged.
	ImportCAR(ctx context.Context, r io.Reader) (ImportResult, error)
	// Locate returns the ranked owners of c and which of them hold it.
	Locate(ctx context.Context, c cid.Cid) (Location, error)
	// RegisterNamespace claims name for this node's key. Like every method
	// that submits a transaction (SubmitRecord, RelayTx) it returns once the
	// transaction's fate is known or ctx's deadline passes (the API sets it
	// to Config.CommitWait):
	//   - committed and applied: Status TxCommitted, Height, Code 0, nil error;
	//   - still pending at the deadline: Status TxPending and Tx, nil error;
	//   - rejected by CheckTx, or committed with a failure code: Status,
	//     Tx, Code and Log set, and an error of the matching kind;
	//   - nothing submitted or nothing known (bad input, overloaded, ...):
	//     a zero TxResult and the error.
	// Submitting the same signed bytes again reports the same transaction.
	RegisterNamespace(ctx context.Context, name string) (TxResult, error)
	// SubmitRecord records namespace/key → c, answering as RegisterNamespace.
	SubmitRecord(ctx context.Context, namespace, key string, c cid.Cid) (TxResult, error)
	// RelayTx submits a transaction signed elsewhere (any node relays any
	// account's transactions), answering as RegisterNamespace.
	RelayTx(ctx context.Context, tx []byte) (TxResult, error)
	// Tx reports the fate of the transaction whose hash (SHA-256 of its
	// bytes) is given: committed, pending, rejected, or TxUnknown (a
	// TxResult, not an error). A hash of the wrong length wraps
	// xnode.ErrInvalidArgument.
	Tx(ctx context.Context, hash []byte) (TxResult, error)
	// Record returns the committed record namespace/key.
	Record(ctx context.Context, namespace, key string) (Record, error)
}

// Blob is an opened blob.
type Blob interface {
	// Size is the blob's total size in bytes.
	Size() uint64
	// Range returns a reader of n bytes from off. Every block behind it is
	// checked against its CID as it is read; a Read returns an error
	// wrapping xnode.ErrIntegrity rather than wrong bytes.
	Range(ctx context.Context, off, n uint64) (io.ReadCloser, error)
}

// Check is one named readiness check.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Status is the answer of GET /v1/status and `xnode status --json`.
type Status struct {
	PeerID string `json:"peer_id"`
	// Addrs are full multiaddrs ending /p2p/<peer id>.
	Addrs       []string     `json:"addrs"`
	API         string       `json:"api"`
	ChainID     string       `json:"chain_id"`
	Height      int64        `json:"height"`
	Members     int          `json:"members"`
	Storage     StorageUsage `json:"storage"`
	Version     string       `json:"version"`
	Replication int          `json:"replication"`
	CatchingUp  bool         `json:"catching_up"`
	AppHash     string       `json:"app_hash,omitempty"`
	CometNodeID string       `json:"comet_node_id,omitempty"`
	// Role is this node's part in the network: "validator" (votes and
	// verifies, and holds data), "member" (admitted to placement by the
	// chain: holds data) or "observer" (not registered on chain).
	Role string `json:"role,omitempty"`
}

// StorageUsage is the local block store's size.
type StorageUsage struct {
	Blocks uint64 `json:"blocks"`
	Bytes  uint64 `json:"bytes"`
}

// MemberObserver is the State of a peer that announces itself but is not
// admitted to placement by the chain: it holds no data. GET /v1/members
// lists observers only with ?all=true.
const MemberObserver = "observer"

// Member is one row of the membership table.
type Member struct {
	PeerID   string            `json:"peer_id"`
	State    string            `json:"state"`
	Addrs    []string          `json:"addrs"`
	API      string            `json:"api"`
	Capacity uint64            `json:"capacity"`
	Used     uint64            `json:"used"`
	Tags     map[string]string `json:"tags,omitempty"`
	LastSeen time.Time         `json:"last_seen"`
	Phi      float64           `json:"phi"`
	Self     bool              `json:"self,omitempty"`
}

// PutResult is the answer of POST /v1/blobs.
type PutResult struct {
	CID      string `json:"cid"`
	Size     uint64 `json:"size"`
	Chunks   int    `json:"chunks"`
	Replicas int    `json:"replicas"`
}

// ImportResult is the answer of POST /v1/car and `xnode import --json`.
type ImportResult struct {
	Roots    []string `json:"roots"`
	Blocks   int      `json:"blocks"`
	Bytes    uint64   `json:"bytes"`
	Replicas int      `json:"replicas"`
}

// Owner is one ranked owner of a block.
type Owner struct {
	Peer  string `json:"peer"`
	Rank  int    `json:"rank"`
	Has   bool   `json:"has"`
	State string `json:"state,omitempty"`
}

// BlockLocation is where one block of a blob lives.
type BlockLocation struct {
	CID    string  `json:"cid"`
	Size   int     `json:"size"`
	Owners []Owner `json:"owners"`
}

// Location is the answer of GET /v1/locate/{cid}: the root's ranked owners,
// optionally each block's, and provider records found in the DHT.
type Location struct {
	CID string `json:"cid"`
	// Size is the size in bytes of the blob when the root is a UnixFS
	// file (a dag-pb node or a raw leaf) that a member served; 0 otherwise.
	Size uint64 `json:"size,omitempty"`
	// BlockSize is the size in bytes of the root block itself, known when
	// a member served it; 0 otherwise.
	BlockSize int `json:"block_size,omitempty"`
	// Owners are the root's owners in rank order. A CID no member holds
	// still has owners: the members it would be placed on, none with Has.
	Owners    []Owner         `json:"owners"`
	Blocks    []BlockLocation `json:"blocks,omitempty"`
	Providers []string        `json:"providers,omitempty"`
}

// TxResult is a transaction's fate: its hash (Tx, upper-case hex of the
// SHA-256 of its bytes, as CometBFT's /tx?hash=0x… takes it) and Status,
// one of TxCommitted (with Height and the application's Code: 0 applied,
// else a committed failure), TxPending, TxRejected (Code and Log say why)
// or TxUnknown. Answers of POST /v1/records, /v1/namespaces and /v1/txs and
// of GET /v1/txs/{hash}; an empty Status in an older node's answer means
// committed.
type TxResult struct {
	Height    int64  `json:"height"`
	Tx        string `json:"tx"`
	Status    string `json:"status,omitempty"`
	Code      uint32 `json:"code"`
	Codespace string `json:"codespace,omitempty"`
	Log       string `json:"log,omitempty"`
}

// Attestation is one validator's verdict on a record.
type Attestation struct {
	Validator string `json:"validator"`
	Power     int64  `json:"power"`
	OK        bool   `json:"ok"`
	Reason    string `json:"reason,omitempty"`
	Height    int64  `json:"height"`
}

// Record is a committed verified-data record and its verification state
// (Status is "pending", "verified" or "failed").
type Record struct {
	Namespace    string        `json:"namespace"`
	Key          string        `json:"key"`
	CID          string        `json:"cid"`
	Size         uint64        `json:"size"`
	Version      uint64        `json:"version"`
	Height       int64         `json:"height"`
	Status       string        `json:"status"`
	Attestations []Attestation `json:"attestations"`
}

// NamespaceResult is the answer of POST /v1/namespaces.
type NamespaceResult struct {
	Name   string `json:"name"`
	Height int64  `json:"height"`
	Tx     string `json:"tx"`
}

// Readiness is the body of GET /health/ready. When not ready (HTTP 503) it
// also carries the error envelope, so generic clients read it like any error.
type Readiness struct {
	Ready  bool         `json:"ready"`
	Checks []Check      `json:"checks"`
	Error  *ErrorDetail `json:"error,omitempty"`
}
