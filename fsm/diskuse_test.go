package fsm

import (
	"os"
	"path/filepath"
	"testing"
)

// ResourceBytes counts the resources' log files and nothing else of the
// FSM's directory (not the checkpoint, trash or staging).
func TestResourceBytes(t *testing.T) {
	h := openHarness(t, filepath.Join(t.TempDir(), "fsm"))
	if n := h.f.ResourceBytes(); n != 0 {
		t.Fatalf("ResourceBytes of a fresh FSM = %d, want 0", n)
	}
	populate(h, 20)
	if err := h.f.Flush(); err != nil {
		t.Fatal(err)
	}
	before := h.f.ResourceBytes()
	if before <= 0 {
		t.Fatalf("ResourceBytes after writes = %d, want > 0", before)
	}
	// A file outside the resources directory does not count.
	if err := os.WriteFile(filepath.Join(h.f.cfg.Dir, "trash", "x"), make([]byte, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	if n := h.f.ResourceBytes(); n != before {
		t.Fatalf("ResourceBytes = %d after a file in trash, want %d", n, before)
	}
}
