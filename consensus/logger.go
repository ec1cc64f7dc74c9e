package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	cmtlog "github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/libs/service"
)

// promotedInfo are CometBFT Info messages worth an operator's attention at
// Info level; the rest of CometBFT's Info output (several lines per block)
// goes to Debug.
var promotedInfo = map[string]bool{
	"ABCI Handshake App Info":      true,
	"ABCI Replay Blocks":           true,
	"This node is a validator":     true,
	"This node is not a validator": true,
	"Added peer":                   true,
	"SwitchToConsensus":            true,
	"Completed ABCI Handshake - CometBFT and App are synced": true,
}

// routineErrors are CometBFT Error messages that report routine events: a
// peer connection that ended, a listener closed at shutdown. They are logged
// at the level given, so that an operator's ERROR lines (and alerts) mean
// something is wrong.
var routineErrors = map[string]slog.Level{
	"Stopping peer for error":                        slog.LevelInfo,
	"Stopped accept routine, as transport is closed": slog.LevelInfo,
	"Error serving server":                           slog.LevelInfo,
	"Error stopping peer":                            slog.LevelInfo,
}

// unsolicitedBlockResponse is how CometBFT's blocksync reactor names a block
// answer it no longer waits for (blocksync/reactor.go, FilterMsgBytes).
const unsolicitedBlockResponse = "unsolicited BlockResponse"

// slogAdapter implements CometBFT's log.Logger on a *slog.Logger.
type slogAdapter struct {
	log   *slog.Logger
	debug bool // pass CometBFT's Debug lines through
	info  bool // pass CometBFT's Info lines through (most at Debug)
}

var _ cmtlog.Logger = (*slogAdapter)(nil)

func newSlogAdapter(log *slog.Logger, level string) *slogAdapter {
	return &slogAdapter{
		log:   log,
		debug: level == "debug",
		info:  level == "debug" || level == "info",
	}
}

// ctx is only a carrier for slog's Enabled check; logging has no deadline.
var logCtx = context.Background()

func (a *slogAdapter) Debug(msg string, keyvals ...any) {
	if a.debug {
		a.emit(slog.LevelDebug, msg, keyvals)
	}
}

func (a *slogAdapter) Info(msg string, keyvals ...any) {
	if !a.info {
		return
	}
	level := slog.LevelDebug
	if promotedInfo[msg] {
		level = slog.LevelInfo
	}
	a.emit(level, msg, keyvals)
}

func (a *slogAdapter) Error(msg string, keyvals ...any) {
	level := slog.LevelError
	if l, ok := routineErrors[msg]; ok {
		level = l
	}
	for _, v := range keyvals {
		// A catching-up node is sent blocks it has already committed.
		if err, ok := v.(error); ok && msg == "Failed to add block" && strings.Contains(err.Error(), "already committed") {
			level = slog.LevelDebug
		}
		// Blocksync asks several peers for the blocks it lacks, and answers
		// that arrive after it moved on (a request already filled, or the
		// switch to consensus) are refused as unsolicited: the connection
		// "panics" on purpose to drop the peer, which is reconnected. The
		// stop is logged at Info as "Stopping peer for error" with the same
		// reason, so the panic line and its stack go to Debug.
		if err, ok := v.(error); ok && msg == "MConnection panicked" && strings.Contains(err.Error(), unsolicitedBlockResponse) {
			level = slog.LevelDebug
		}
		// Shutdown races make CometBFT stop some peers twice and log it as
		// an error; it is not one.
		if err, ok := v.(error); ok && errors.Is(err, service.ErrAlreadyStopped) {
			level = slog.LevelDebug
		}
	}
	a.emit(level, msg, keyvals)
}

// emit logs msg if level is enabled. CometBFT passes byte slices (addresses,
// hashes) as types whose String method renders hex; slog would print their raw
// bytes, so Stringers are rendered here, after the level check, to keep
// disabled lines free.
func (a *slogAdapter) emit(level slog.Level, msg string, keyvals []any) {
	if !a.log.Enabled(logCtx, level) {
		return
	}
	args := make([]any, len(keyvals))
	for i, v := range keyvals {
		args[i] = v
		if i%2 == 0 {
			continue // a key
		}
		switch v.(type) {
		case error, slog.LogValuer:
		case fmt.Stringer:
			args[i] = v.(fmt.Stringer).String()
		}
	}
	a.log.Log(logCtx, level, msg, args...)
}

func (a *slogAdapter) With(keyvals ...any) cmtlog.Logger {
	return &slogAdapter{log: a.log.With(keyvals...), debug: a.debug, info: a.info}
}
