package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), "raft")
	l.Debug("hidden")
	l.Named("net").With("peer", "n2").Warn("progress", "pct", hclog.Fmt("%0.1f%%", 50.0))
	out := buf.String()
	for _, want := range []string{"level=WARN", "component=raft.net", "peer=n2", `pct=50.0%`} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	if strings.Contains(out, "hidden") || !l.IsInfo() || l.IsDebug() {
		t.Errorf("levels not honoured: %q", out)
	}
}
