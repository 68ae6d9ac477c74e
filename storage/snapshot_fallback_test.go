package storage_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// logBuffer collects a node's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// snapshotNode is compactingNode with its log captured; it returns Start's
// error instead of failing.
func snapshotNode(t *testing.T, dir string, logs *logBuffer) (*storage.Storage, error) {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.NodeID = "n1"
	cfg.Raft.SnapshotThreshold = 100 // TrailingLogs 125
	cfg.Raft.SnapshotInterval = time.Hour
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// snapshotDirs returns the snapshot directories of dir's node, oldest
// first (by the term and index their names start with).
func snapshotDirs(t *testing.T, dir string) []string {
	t.Helper()
	root := filepath.Join(dir, "raft", "snapshots")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	type snap struct {
		term, index uint64
		path        string
	}
	var snaps []snap
	for _, e := range entries {
		sn := snap{path: filepath.Join(root, e.Name())}
		if _, err := fmt.Sscanf(e.Name(), "%d-%d-", &sn.term, &sn.index); err != nil {
			t.Fatalf("snapshot dir %s: %v", e.Name(), err)
		}
		snaps = append(snaps, sn)
	}
	slices.SortFunc(snaps, func(a, b snap) int {
		return cmp.Or(cmp.Compare(a.term, b.term), cmp.Compare(a.index, b.index))
	})
	var out []string
	for _, sn := range snaps {
		out = append(out, sn.path)
	}
	return out
}

// twoSnapshots writes, snapshots, writes n more entries, snapshots again
// and stops: the node's data dir then holds two snapshots.
func twoSnapshots(t *testing.T, dir string, between int) (want string) {
	t.Helper()
	ctx := context.Background()
	s, err := snapshotNode(t, dir, &logBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	kv, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	put := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := s.KVManager().Put(ctx, kv.GetPath(), fmt.Sprintf("k%d", i), []byte("v"), flowmesh.KVPutOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(0, 20)
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	put(20, 20+between)
	if err := s.Snapshot(ctx); err != nil {
		t.Fatal(err)
	}
	want = mustHash(t, s)
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(snapshotDirs(t, dir)); got != 2 {
		t.Fatalf("%d snapshots on disk, want 2", got)
	}
	return want
}

// TestStartFallsBackFromUnusableSnapshot: with the newest snapshot's
// checkpoint truncated, or zeroed at the same size (the manifest still
// matches; the FSM's checkpoint check catches it), and the FSM's own data
// gone (so raft must restore a snapshot), the node starts from the
// previous snapshot plus the log after it, reaches the same state, and
// logs which snapshot it skipped.
func TestStartFallsBackFromUnusableSnapshot(t *testing.T) {
	corruptions := map[string]func(path string) error{
		"truncated": func(p string) error { return os.Truncate(p, 3) },
		"zeroed": func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.WriteFile(p, make([]byte, fi.Size()), 0o644)
		},
	}
	for name, corrupt := range corruptions {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			want := twoSnapshots(t, dir, 30) // 30 entries apart: the log (125 trailing) holds them
			snaps := snapshotDirs(t, dir)
			newest := snaps[len(snaps)-1]
			if err := corrupt(filepath.Join(newest, "data", "checkpoint.pb")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(dir, "fsm")); err != nil {
				t.Fatal(err)
			}
			logs := &logBuffer{}
			s, err := snapshotNode(t, dir, logs)
			if err != nil {
				t.Fatalf("start with an unusable newest snapshot: %v", err)
			}
			defer s.Stop(context.Background())
			if got := mustHash(t, s); got != want {
				t.Errorf("state after the fallback %s, want %s", got, want)
			}
			out := logs.String()
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "newest snapshot is unusable") ||
				!strings.Contains(out, filepath.Base(newest)) || !strings.Contains(out, filepath.Base(snaps[0])) {
				t.Errorf("no WARN naming the skipped snapshot %s and the one used %s in the log:\n%s",
					filepath.Base(newest), filepath.Base(snaps[0]), out)
			}
			if _, err := s.KVManager().Put(context.Background(), "t/ns/kv", "after", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
				t.Fatalf("Put after the fallback: %v", err)
			}
		})
	}
}

// TestStartRefusesUnsafeFallback: when the log no longer holds the entries
// between the previous snapshot and the unusable newest one (and the FSM's
// own data is gone, so a snapshot must be restored), starting from
// the previous one would lose committed entries; the start fails with an
// error naming the snapshot and what to do, and nothing panics.
func TestStartRefusesUnsafeFallback(t *testing.T) {
	dir := t.TempDir()
	twoSnapshots(t, dir, 300) // the second snapshot compacts the log past the first
	snaps := snapshotDirs(t, dir)
	newest := snaps[len(snaps)-1]
	if err := os.Truncate(filepath.Join(newest, "data", "checkpoint.pb"), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "fsm")); err != nil {
		t.Fatal(err)
	}
	s, err := snapshotNode(t, dir, &logBuffer{})
	if err == nil {
		s.Stop(context.Background())
		t.Fatal("a node started from a snapshot whose log was compacted away")
	}
	msg := err.Error()
	t.Logf("start refused: %v", err)
	for _, want := range []string{newest, "unusable", "raft log holds entries", "data directory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("start error %q does not mention %q", msg, want)
		}
	}
}

// TestStartOnOwnStateWhenNoFallback: the newest snapshot is unusable and
// the log no longer reaches back to the previous one, but the FSM's own
// files hold everything up to the newest: the node starts (raft need not
// restore a snapshot), keeps its state and says why in a WARN.
func TestStartOnOwnStateWhenNoFallback(t *testing.T) {
	dir := t.TempDir()
	want := twoSnapshots(t, dir, 300)
	snaps := snapshotDirs(t, dir)
	newest := snaps[len(snaps)-1]
	if err := os.Truncate(filepath.Join(newest, "data", "checkpoint.pb"), 0); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s, err := snapshotNode(t, dir, logs)
	if err != nil {
		t.Fatalf("start with the FSM's own state past the unusable snapshot: %v", err)
	}
	defer s.Stop(context.Background())
	if got := mustHash(t, s); got != want {
		t.Errorf("state %s, want %s", got, want)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "own state already holds it") ||
		!strings.Contains(out, filepath.Base(newest)) {
		t.Errorf("no WARN naming %s:\n%s", filepath.Base(newest), out)
	}
	if _, err := s.KVManager().Put(context.Background(), "t/ns/kv", "after", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	// The next snapshot replaces the unusable one.
	if err := s.Snapshot(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, rc, err := s.Cluster().OpenLatestSnapshot(); err != nil {
		t.Fatalf("latest snapshot after a new one: %v", err)
	} else {
		rc.Close()
	}
}
