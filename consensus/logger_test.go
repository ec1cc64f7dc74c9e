package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	dbm "github.com/cometbft/cometbft-db"
	"github.com/cometbft/cometbft/blocksync"
	"github.com/cometbft/cometbft/p2p/mock"
	bcproto "github.com/cometbft/cometbft/proto/tendermint/blocksync"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/store"
)

// unsolicitedBlockResponseError is the error CometBFT's own blocksync
// reactor gives a block answer it did not ask for, so that the test follows
// CometBFT's wording rather than a copy of it.
func unsolicitedBlockResponseError(t *testing.T) (error, *mock.Peer) {
	t.Helper()
	bs := store.NewBlockStore(dbm.NewMemDB())
	t.Cleanup(func() { _ = bs.Close() })
	r := blocksync.NewReactor(sm.State{}, nil, bs, false, blocksync.NopMetrics(), 0)
	msg := bcproto.Message{Sum: &bcproto.Message_BlockResponse{BlockResponse: &bcproto.BlockResponse{Block: &cmtproto.Block{}}}}
	b, err := msg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := mock.NewPeer(nil)
	err = r.FilterMsgBytes(blocksync.BlocksyncChannel, p, b)
	if err == nil || !strings.Contains(err.Error(), unsolicitedBlockResponse) {
		t.Fatalf("CometBFT's blocksync reactor no longer refuses an unsolicited block with %q: %v", unsolicitedBlockResponse, err)
	}
	return err, p
}

func TestLoggerDemotesUnsolicitedBlockResponse(t *testing.T) {
	refused, p := unsolicitedBlockResponseError(t)
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a := newSlogAdapter(log, "info")

	// What CometBFT's p2p layer does with the refusal (p2p/peer.go,
	// p2p/conn/connection.go, p2p/switch.go): panic with it, log the panic,
	// and stop the peer with it as the reason.
	panicked := fmt.Errorf("rejected msg on chID %#x from %s: %w", blocksync.BlocksyncChannel, p.ID(), refused)
	a.Error("MConnection panicked", "err", panicked, "stack", "goroutine 1 [running]:")
	a.Error("Stopping peer for error", "peer", p, "err", fmt.Errorf("recovered from panic: %v", panicked))
	// The same refusal while the pool runs names the peer.
	a.Error("MConnection panicked", "err", fmt.Errorf("rejected msg on chID 0x40 from %s: unsolicited BlockResponse from peer %s", p.ID(), p.ID()))
	// Any other panic of a connection stays an error.
	a.Error("MConnection panicked", "err", errors.New("unmarshaling message: proto: bad wiretype"), "stack", "goroutine 2")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 lines, got:\n%s", buf.String())
	}
	for i, want := range []string{
		`level=DEBUG msg="MConnection panicked"`,
		`level=INFO msg="Stopping peer for error"`,
		`level=DEBUG msg="MConnection panicked"`,
		`level=ERROR msg="MConnection panicked"`,
	} {
		if !strings.HasPrefix(strings.SplitN(lines[i], " ", 2)[1], want) {
			t.Errorf("line %d: want %s, got %s", i, want, lines[i])
		}
	}
	if !strings.Contains(lines[1], unsolicitedBlockResponse) {
		t.Errorf("the peer stop does not say why: %s", lines[1])
	}

	// At level info nothing of it reaches ERROR or WARN.
	buf.Reset()
	info := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b := newSlogAdapter(info, "info")
	b.Error("MConnection panicked", "err", panicked, "stack", "goroutine 1 [running]:")
	b.Error("Stopping peer for error", "peer", p, "err", fmt.Errorf("recovered from panic: %v", panicked))
	if out := buf.String(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "level=WARN") || strings.Contains(out, "goroutine") {
		t.Errorf("a routine unsolicited block answer logged as a problem:\n%s", out)
	}
}
