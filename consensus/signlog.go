package consensus

import (
	"context"
	"errors"
	"log/slog"
)

// refusalMessages are the lines CometBFT logs at ERROR when the priv
// validator does not sign (consensus/state.go).
var refusalMessages = map[string]bool{
	"failed signing vote":                   true,
	"propose step; failed signing proposal": true,
}

// quietRefusals is a slog.Handler that logs at INFO the lines CometBFT
// writes at ERROR for a signature the recovering validator's guard refused
// on purpose: ERROR is for something wrong, and a guarded height is the
// recovery doing its job. Any other failure to sign stays at ERROR.
type quietRefusals struct{ slog.Handler }

func (h quietRefusals) Handle(ctx context.Context, r slog.Record) error {
	if r.Level > slog.LevelInfo && refusalMessages[r.Message] && guardRefusal(r) {
		r.Level = slog.LevelInfo
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietRefusals) WithAttrs(as []slog.Attr) slog.Handler {
	return quietRefusals{h.Handler.WithAttrs(as)}
}

func (h quietRefusals) WithGroup(name string) slog.Handler {
	return quietRefusals{h.Handler.WithGroup(name)}
}

// guardRefusal reports whether r's "err" is a refusal of the sign guard.
func guardRefusal(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" && errors.Is(err, errNotSigning) {
			found = true
			return false
		}
		return true
	})
	return found
}
