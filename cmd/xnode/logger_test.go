package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/xnode/xnode/overlay"
)

func TestJSONLogDurationsReadAsText(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, overlay.LogConfig{Level: "info", Format: "auto"}) // not a terminal: JSON
	log.Info("repair pass", "took", 1500*time.Millisecond, "checked", 3)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v: %q", err, buf.String())
	}
	if line["took"] != "1.5s" {
		t.Fatalf("took = %#v, want \"1.5s\"", line["took"])
	}
	if line["checked"] != float64(3) {
		t.Fatalf("checked = %#v, want the number 3", line["checked"])
	}
}
