// Package transfer is xnode's block transfer protocol, /xnode/block/1.0.0:
// how one node puts a block on another, gets one back, asks which blocks it
// holds and confirms tentative copies. Placement, replication and repair in
// overlay/ decide who talks to whom; this package only moves verified bytes
// between two peers.
//
// # Wire format
//
// One request and one answer per libp2p stream (yamux streams are cheap, and
// a stream per request keeps framing, deadlines and resets simple). Both are
// a single frame:
//
//	frame    = uvarint(len) payload            ; 1 <= len <= Config.MaxFrameBytes
//	cid      = uvarint(n) n bytes              ; binary CID, n <= 128, checked with block.Cast
//	request  = PUT     0x01 flags cid data     ; flags bit 0: tentative; data runs to the frame end
//	         | GET     0x02 cid
//	         | HAS     0x03 uvarint(count) cid*count   ; count <= Config.MaxBatch
//	         | CONFIRM 0x04 uvarint(count) cid*count
//	         | ABANDON 0x05 uvarint(count) cid*count
//	answer   = status body
//	status   = OK 0x00 | NOT_FOUND 0x01 | BAD_REQUEST 0x02 | INTEGRITY 0x03
//	         | BUSY 0x04 | INTERNAL 0x05
//	body     = OK to PUT or CONFIRM: empty
//	         | OK to GET: the block's bytes, to the frame end
//	         | OK to HAS: uvarint(count) bitmap   ; ceil(count/8) bytes, bit i (LSB first) = has cid i
//	         | any other status: a short UTF-8 message (at most 512 bytes) for logs
//
// Every uvarint is minimally encoded and a bitmap's padding bits are zero,
// so each message has exactly one encoding; anything else is malformed. The
// fuzz tests in wire_fuzz_test.go hold every decoder to that round trip.
//
// The client writes its frame and closes its write side; the server reads
// exactly one frame, answers, and closes. A reader takes the length first
// and resets the stream if it is over MaxFrameBytes, without allocating; a
// length within the limit is reserved in the stream's resource-manager scope
// and the full buffer is taken only once the first 64 KiB have arrived,
// so a peer that claims much and sends little costs little. The server reads
// requests into buffers it recycles once it has answered (a PUT frame is a
// whole chunk; a fresh one per block costs zeroing and garbage collection),
// which is why LocalStore.PutHashed must not keep a block's bytes. Extra
// bytes after a frame are ignored.
//
// # Trust
//
// Nothing from the network is trusted. The server hashes every PUT against
// its CID before the store sees it (a mismatch is answered INTEGRITY, counted
// in xnode_transfer_rejected_total{reason="integrity"}, and nothing is
// stored), checks every CID with block.Cast, answers malformed requests with
// BAD_REQUEST, resets on oversized or truncated frames, and recovers from a
// panic in its handler. The client verifies every GET answer against the CID
// it asked for; wrong bytes are counted and returned as ErrIntegrity, never
// as data. The server does not re-hash what LocalStore.Get returns: the store
// contract is that Get returns verified blocks.
//
// # Violations
//
// Config.OnViolation hears the request streams on which a peer broke the
// framing in a way no honest peer of any version does, so that the node can
// ban it (peerguard) without ever banning an honest node, whose ban would
// cut a replica holder off. Three things count, all about the frame, which
// every version shares:
//
//   - ViolationFrameTooLarge: a header over MaxFrameBytes. An honest client
//     never sends one: the largest request is a PUT of a chunk of at most
//     block.MaxChunkSize (4 MiB, a contract) plus its header, which every
//     valid MaxFrameBytes holds, and batches are split to MaxBatch.
//   - ViolationBadLength: a length prefix that overflows, is not minimally
//     encoded, or is zero. Honest writers use binary.AppendUvarint on a
//     non-empty payload.
//   - ViolationTruncated: the peer closed its write side cleanly (EOF)
//     inside the length prefix or before the body its header announced was
//     whole. An honest client half-closes only after writing its whole
//     frame.
//
// Deliberately not counted: a reset or a connection that drops mid-frame
// (an honest client resets when its caller cancels — a hedged get, a put
// abandoned after another owner failed — and a reset cannot be told from
// this node's own Close or a network failure); a stall that runs into the
// deadline (a slow link); a stream that ends before its first byte (cheap
// for us, and a stream opened and closed unused is not a framing error);
// an unknown op and a request body that does not decode (a newer honest
// version may send ops and fields this one does not know: they are
// answered BAD_REQUEST); and BUSY or resource-manager refusals, which are
// this node's load, not the peer's fault. An oversized frame is logged at
// Debug only: the ban is what gets a Warn, once.
//
// # Load and resources
//
// Each direction is bounded per peer. Inbound, at most MaxInboundPerPeer
// requests from one peer are served at once; the next is answered BUSY at
// once rather than queued, so a greedy peer cannot park streams on us. The
// client sends a request answered BUSY again a few times over about 14 ms
// (Config.BusyRetries), since a slot is freed only after its answer is
// written; still BUSY, it reports ErrOverloaded (xnode.ErrOverloaded) for the
// caller to retry later or try another owner. Outbound, at most MaxOutboundPerPeer calls
// run to one peer; further calls wait for a slot within their context.
//
// Every stream, both sides, is attached to the resource-manager service
// ServiceName ("xnode.block"). Frame payloads are reserved with
// ReserveMemory at high priority in the stream scope, which charges the
// peer, protocol-peer, service-peer, protocol, service and system scopes; a
// refused reservation is answered BUSY (server) or reported as ErrOverloaded
// (client), never allocated anyway. Outgoing frames are not reserved: their
// bytes already belong to the caller or the store. libp2p's default limits
// allow 16 MiB per peer for an unknown protocol, about three 4 MiB frames;
// Config.AddLimits raises the protocol and service limits to fit the
// configured concurrency.
//
// Every request has a deadline: RequestTimeout from the stream's start on
// the server, the earlier of RequestTimeout and the caller's context on the
// client. A stalled peer costs one slot until then.
//
// # Concurrency and lifecycle
//
// A Service is safe for concurrent use. New starts nothing; Start registers
// the stream handler; Close removes it, resets in-flight streams (server
// handlers and client calls alike) and waits for them to return, and is
// idempotent. Client calls after Close return ErrClosed. The only goroutines
// the package starts are libp2p's handler goroutines and one writer per
// client request, which the request waits for before it returns.
//
// # Imports
//
// transfer imports block and the root error kinds, and nothing else from
// the project: it must not import storage (LocalStore is the seam), gossip,
// rendezvous or overlay.
package transfer
