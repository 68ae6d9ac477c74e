package fsm

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

// Restore wakes the waiters on Changes before it returns (no goroutine
// of its own to do it later): a reader that waits for new state sees the
// restored state as soon as raft's restore is done.
func TestRestoreSignalsChangesBeforeReturning(t *testing.T) {
	src := openHarness(t, filepath.Join(t.TempDir(), "src"))
	populate(src, 5)
	snap, err := src.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufferSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := openHarness(t, filepath.Join(t.TempDir(), "dst"))
	changed := dst.f.Changes()
	if err := dst.f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("Restore returned without waking the waiters on Changes")
	}
}
