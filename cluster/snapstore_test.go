package cluster

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/internal/snapdir"
)

func testConf() raft.Configuration {
	return raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "n1", Address: "127.0.0.1:1"}}}
}

func createDirSnapshot(t *testing.T, s *SnapshotStore, index uint64, files map[string]string) string {
	t.Helper()
	sink, err := s.Create(1, index, 2, testConf(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ds, ok := sink.(interface{ Dir() string })
	if !ok {
		t.Fatal("sink has no Dir()")
	}
	src := t.TempDir()
	for p, data := range files {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(ds.Dir(), p)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(full, dst); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

func openAll(t *testing.T, s *SnapshotStore, id string) (*raft.SnapshotMeta, []byte) {
	t.Helper()
	meta, rc, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return meta, b
}

func TestSnapshotStoreRoundTrip(t *testing.T) {
	s, err := NewSnapshotStore(t.TempDir(), 2, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"seg/00000000000000000000.log": "segment bytes", "checkpoint": "cp", "seg/idx": ""}
	id := createDirSnapshot(t, s, 10, files)

	metas, err := s.List()
	if err != nil || len(metas) != 1 || metas[0].ID != id || metas[0].Index != 10 || metas[0].Term != 2 {
		t.Fatalf("List = %v, %v", metas, err)
	}
	if len(metas[0].Configuration.Servers) != 1 {
		t.Errorf("configuration not kept: %+v", metas[0].Configuration)
	}
	meta, stream := openAll(t, s, id)
	if meta.Size != int64(len(stream)) {
		t.Errorf("meta.Size = %d, stream is %d bytes", meta.Size, len(stream))
	}
	out := filepath.Join(t.TempDir(), "out")
	if err := snapdir.Read(bytes.NewReader(stream), out); err != nil {
		t.Fatal(err)
	}
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(out, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}

	// The stream path, as raft's installSnapshot uses it: copy the stream
	// into a new sink. It must decode to the same snapshot.
	sink, err := s.Create(1, 11, 2, testConf(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(sink, bytes.NewReader(stream)); err != nil || n != int64(len(stream)) {
		t.Fatalf("copy into sink: %d, %v", n, err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	meta2, stream2 := openAll(t, s, sink.ID())
	if !bytes.Equal(stream, stream2) || meta2.Size != meta.Size {
		t.Error("snapshot received as a stream streams differently")
	}

	// Retention: the newest two remain on disk; List shows the newest only.
	id3 := createDirSnapshot(t, s, 12, map[string]string{"x": "y"})
	metas, err = s.List()
	if err != nil || len(metas) != 1 || metas[0].ID != id3 {
		t.Fatalf("after reaping, List = %+v, %v", metas, err)
	}
	if all, _, _ := s.list(); len(all) != 2 || all[1].ID != sink.ID() {
		t.Fatalf("after reaping, %d snapshots on disk, want 2", len(all))
	}
	if _, _, err := s.Open(id); err == nil {
		t.Error("reaped snapshot still opens")
	}
	if _, _, err := s.Open("../x"); err == nil {
		t.Error("Open accepted a path as id")
	}
}

func TestSnapshotStoreBadStream(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSnapshotStore(dir, 2, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "f"), bytes.Repeat([]byte("z"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snapdir.Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	bad := buf.Bytes()
	bad[100] ^= 1

	sink, err := s.Create(1, 5, 1, testConf(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := io.Copy(sink, bytes.NewReader(bad))
	cerr := sink.Close()
	if werr == nil && cerr == nil {
		t.Fatal("corrupt stream accepted")
	}
	if !errors.Is(errors.Join(werr, cerr), snapdir.ErrCorrupt) {
		t.Errorf("errors %v / %v, want snapdir.ErrCorrupt", werr, cerr)
	}
	if _, err := os.Stat(filepath.Join(dir, sink.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed snapshot dir left behind: %v", err)
	}

	// Cancel removes; an incomplete snapshot (no meta) is invisible and is
	// removed when the store reopens.
	sink, err = s.Create(1, 6, 1, testConf(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(buf.Bytes()[:10]); err != nil {
		t.Fatal(err)
	}
	if err := sink.Cancel(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, sink.ID())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("canceled snapshot dir left behind: %v", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "1-7-123", dataDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if metas, _ := s.List(); len(metas) != 0 {
		t.Errorf("List shows incomplete snapshots: %+v", metas)
	}
	if _, err := NewSnapshotStore(dir, 2, testLogger(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "1-7-123")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("incomplete snapshot survived reopen: %v", err)
	}
}

func TestSnapshotStoreDetectsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := NewSnapshotStore(dir, 2, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	id := createDirSnapshot(t, s, 3, map[string]string{"a": "12345"})
	if err := os.WriteFile(filepath.Join(dir, id, dataDirName, "a"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(id); err == nil {
		t.Error("Open streamed a snapshot whose file shrank")
	}
	// An unreadable newest snapshot fails List rather than letting raft
	// fall back to an older one; an unreadable older one is ignored.
	older := id
	newest := createDirSnapshot(t, s, 4, map[string]string{"b": "1"})
	corruptMeta := func(id string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, id, metaFile), []byte(`{"crc":1,"body":{}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	corruptMeta(older)
	if metas, err := s.List(); err != nil || len(metas) != 1 || metas[0].ID != newest {
		t.Errorf("with an unreadable older snapshot, List = %v, %v", metas, err)
	}
	corruptMeta(newest)
	if metas, err := s.List(); err == nil {
		t.Errorf("with an unreadable newest snapshot, List = %v, want an error", metas)
	}
}
