package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/storage"
)

// startConvertNode starts a single-node storage on dir with the given log
// store ("" = what the dir holds).
func startConvertNode(t *testing.T, dir, logStore string) *storage.Storage {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.NodeID = "convert-node"
	cfg.Raft.LogStore = logStore
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// appendEvents writes n events "prefix-i" to the stream and returns the
// stream path.
func appendEvents(t *testing.T, s *storage.Storage, create bool, prefix string, n int) string {
	t.Helper()
	ctx := context.Background()
	f := storage.NewResourceFactory(s.MetaStore())
	path := "t/ns/ev"
	if create {
		st, err := f.CreateStream(ctx, "t", "ns", "ev", 1)
		if err != nil {
			t.Fatal(err)
		}
		path = st.GetPath()
	}
	for i := 0; i < n; i++ {
		if _, err := s.StreamManager().WriteEvents(ctx, path, []storage.StreamEvent{{Payload: []byte(fmt.Sprintf("%s-%d", prefix, i))}}); err != nil {
			t.Fatalf("write %s-%d: %v", prefix, i, err)
		}
	}
	return path
}

func readEvents(t *testing.T, s *storage.Storage, path string) []string {
	t.Helper()
	msgs, err := s.StreamManager().ReadFromOffset(context.Background(), path, 0, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Payload))
	}
	return out
}

func convert(t *testing.T, dir, to string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runConvertLogStore([]string{"--data-dir", dir, "--to", to}, &stdout, &stderr); code != 0 {
		t.Fatalf("convert to %s: exit %d: %s", to, code, stderr.String())
	}
	return stdout.String()
}

// TestConvertLogStore: a node made with bolt, converted to wal, restarted
// with no flag (the dir now holds wal), keeps its data and takes writes;
// converted back to bolt, the same.
func TestConvertLogStore(t *testing.T) {
	dir := t.TempDir()
	raftDir := filepath.Join(dir, "raft")
	s := startConvertNode(t, dir, cluster.LogStoreBolt)
	path := appendEvents(t, s, true, "bolt", 30)
	// A running node holds the lock: convert refuses and changes nothing.
	var stderr bytes.Buffer
	if code := runConvertLogStore([]string{"--data-dir", dir, "--to", "wal"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "in use") {
		t.Fatalf("convert under a running node: exit %d: %s", code, stderr.String())
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := cluster.DetectLogStore(raftDir); got != cluster.LogStoreBolt {
		t.Fatalf("after a refused convert the dir holds %q", got)
	}

	out := convert(t, dir, "wal")
	t.Log(out)
	if got, _ := cluster.DetectLogStore(raftDir); got != cluster.LogStoreWAL {
		t.Fatalf("after convert to wal the dir holds %q", got)
	}
	if m, _ := filepath.Glob(filepath.Join(raftDir, "raft.db.bak-*")); len(m) != 1 {
		t.Fatalf("bolt backup: %v", m)
	}
	s = startConvertNode(t, dir, "")
	appendEvents(t, s, false, "wal", 20)
	want := append(seq("bolt", 30), seq("wal", 20)...)
	if got := readEvents(t, s, path); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after convert to wal: %v, want %v", got, want)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}

	convert(t, dir, "boltdb")
	if got, _ := cluster.DetectLogStore(raftDir); got != cluster.LogStoreBolt {
		t.Fatalf("after convert to boltdb the dir holds %q", got)
	}
	s = startConvertNode(t, dir, "")
	defer s.Stop(context.Background())
	appendEvents(t, s, false, "bolt2", 10)
	want = append(want, seq("bolt2", 10)...)
	if got := readEvents(t, s, path); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after convert back to boltdb: %v, want %v", got, want)
	}
}

func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func TestConvertLogStoreUsage(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--data-dir is required"},
		{[]string{"--data-dir", empty}, `--to "" must be wal or boltdb`},
		{[]string{"--data-dir", empty, "--to", "sqlite"}, `--to "sqlite" must be wal or boltdb`},
		{[]string{"--data-dir", empty, "--to", "wal", "extra"}, "unexpected arguments"},
		{[]string{"--data-dir", empty, "--to", "wal"}, "is not a node's data dir"},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		var stderr bytes.Buffer
		if code := runConvertLogStore(tc.args, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	if entries, _ := os.ReadDir(empty); len(entries) != 0 {
		t.Errorf("a refused convert wrote %v", entries)
	}
	// Converting to the store the dir already holds is an error (exit 1).
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "raft", "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	if code := runConvertLogStore([]string{"--data-dir", dir, "--to", "wal"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "already holds") {
		t.Errorf("convert to the same store: exit %d, %q", code, stderr.String())
	}
}
