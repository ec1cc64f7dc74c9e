package consensus

import (
	"context"
	"log/slog"

	cmtlog "github.com/cometbft/cometbft/libs/log"
)

// promotedInfo are CometBFT Info messages worth an operator's attention at
// Info level; the rest of CometBFT's Info output (several lines per block)
// goes to Debug.
var promotedInfo = map[string]bool{
	"Started node":            true,
	"Stopping Node":           true,
	"ABCI Handshake App Info": true,
	"ABCI Replay Blocks":      true,
	"Completed ABCI Handshake - CometBFT and App are synced": true,
	"This node is a validator":                               true,
	"This node is not a validator":                           true,
	"Added peer":                                             true,
	"Stopping peer for error":                                true,
	"SwitchToConsensus":                                      true,
	"Time to switch to consensus mode!":                      true,
}

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
		a.log.Log(logCtx, slog.LevelDebug, msg, keyvals...)
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
	a.log.Log(logCtx, level, msg, keyvals...)
}

func (a *slogAdapter) Error(msg string, keyvals ...any) {
	a.log.Log(logCtx, slog.LevelError, msg, keyvals...)
}

func (a *slogAdapter) With(keyvals ...any) cmtlog.Logger {
	return &slogAdapter{log: a.log.With(keyvals...), debug: a.debug, info: a.info}
}
