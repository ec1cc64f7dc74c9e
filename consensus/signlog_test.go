package consensus

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestQuietRefusals: CometBFT's ERROR lines for a signature the guard
// refused come out at INFO, through the adapter CometBFT logs with; any
// other failure to sign, and any other ERROR, stays at ERROR.
func TestQuietRefusals(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cmt := newSlogAdapter(slog.New(quietRefusals{base.Handler()}), "info").With("module", "consensus")
	g := signGuard{recovering: true}
	g.setFloor(10)
	refused := g.maySign(9, 0, stepPrevote)
	if refused == nil {
		t.Fatal("guard signed below its floor")
	}

	cases := []struct {
		msg  string
		err  error
		want string
	}{
		{"failed signing vote", refused, "level=INFO"},
		{"propose step; failed signing proposal", fmt.Errorf("wrapped: %w", refused), "level=INFO"},
		{"failed signing vote", errors.New("height regression. Got 5, last height 9"), "level=ERROR"},
		{"some other failure", refused, "level=ERROR"},
	}
	for _, c := range cases {
		buf.Reset()
		cmt.Error(c.msg, "height", 9, "err", c.err)
		if line := buf.String(); !strings.Contains(line, c.want) || !strings.Contains(line, "module=consensus") {
			t.Fatalf("%q with %v: logged %q, want %s", c.msg, c.err, line, c.want)
		}
	}

	// Below INFO the demoted line is dropped, the others still pass.
	buf.Reset()
	quiet := newSlogAdapter(slog.New(quietRefusals{slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})}), "info")
	quiet.Error("failed signing vote", "err", refused)
	if buf.Len() != 0 {
		t.Fatalf("demoted refusal logged at WARN level: %q", buf.String())
	}
	quiet.Error("failed signing vote", "err", errors.New("disk full"))
	if !strings.Contains(buf.String(), "level=ERROR") {
		t.Fatalf("real signing failure not logged: %q", buf.String())
	}
}
