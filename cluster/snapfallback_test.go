package cluster

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// logWith returns a log store holding entries first..last.
func logWith(t *testing.T, first, last uint64) raft.LogStore {
	t.Helper()
	s := raft.NewInmemStore()
	for i := first; i <= last; i++ {
		if err := s.StoreLog(&raft.Log{Index: i, Term: 2, Type: raft.LogCommand}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// streamSnapshot creates a snapshot at index received as a stream (as from
// a leader's InstallSnapshot or an upload).
func streamSnapshot(t *testing.T, s *SnapshotStore, index uint64, stream []byte) string {
	t.Helper()
	sink, err := s.Create(1, index, 2, testConf(), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sink.Write(stream); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return sink.ID()
}

// TestListFallback: an unusable newest snapshot is skipped for the older
// one only when it was taken locally and the log holds every entry from
// just after the older one up to it; never past a snapshot received as a
// stream, nor across a gap in the log. Failing that, it is still reported
// (raft will not restore it) when the FSM's durable index covers it.
func TestListFallback(t *testing.T) {
	files := map[string]string{"checkpoint.pb": "cp", "r/1/p0/seg": "data"}
	breakSnap := func(t *testing.T, s *SnapshotStore, id string) {
		t.Helper()
		if err := os.Truncate(filepath.Join(s.dir, id, dataDirName, "checkpoint.pb"), 0); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name        string
		streamed    bool   // the newest came as a stream
		first, last uint64 // the log
		hole        uint64 // an index missing from the log (0: none)
		wantErr     string // "" when the older snapshot is used
	}{
		{"local, log covers", false, 5, 30, 0, ""},
		{"local, log compacted past the older", false, 12, 30, 0, "raft log holds entries 12..30"},
		{"local, log with a gap", false, 5, 30, 15, "lacks entry 15"},
		{"streamed newest", true, 1, 30, 0, "not taken from this node's log"},
		{"FSM holds the newest", false, 12, 30, 0, "own"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSnapshotStore(t.TempDir(), 5, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			older := createDirSnapshot(t, s, 10, files)
			var newest string
			if tc.streamed {
				_, stream := openAll(t, s, older)
				newest = streamSnapshot(t, s, 20, stream)
			} else {
				newest = createDirSnapshot(t, s, 20, files)
			}
			s.logs = logWith(t, tc.first, tc.last)
			if tc.hole != 0 {
				if err := s.logs.DeleteRange(tc.hole, tc.hole); err != nil {
					t.Fatal(err)
				}
			}
			if metas, err := s.List(); err != nil || len(metas) != 1 || metas[0].ID != newest {
				t.Fatalf("List before breaking the newest = %v, %v", metas, err)
			}
			breakSnap(t, s, newest)
			s.checked = map[string]error{}
			s.durable = func() uint64 { return 19 }
			if tc.wantErr == "own" {
				s.durable = func() uint64 { return 20 }
			}
			metas, err := s.List()
			if tc.wantErr == "own" {
				if err != nil || len(metas) != 1 || metas[0].ID != newest {
					t.Fatalf("List = %v, %v; want the newest %s, which the FSM's own files hold", metas, err, newest)
				}
				return
			}
			if tc.wantErr == "" {
				if err != nil || len(metas) != 1 || metas[0].ID != older {
					t.Fatalf("List = %v, %v; want the older snapshot %s", metas, err, older)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), newest) {
				t.Fatalf("List = %v, %v; want an error naming %s and %q", metas, err, newest, tc.wantErr)
			}
		})
	}
}

// TestSinkWritesClusterID: every sealed snapshot carries the store's
// cluster ID in its data, replacing the one a stream brought.
func TestSinkWritesClusterID(t *testing.T) {
	s, err := NewSnapshotStore(t.TempDir(), 5, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ours := strings.Repeat("ab", 16)
	s.clusterID = func() string { return ours }
	id := createDirSnapshot(t, s, 10, map[string]string{"checkpoint.pb": "cp"})
	if got, err := readSnapshotClusterID(filepath.Join(s.dir, id, dataDirName)); err != nil || got != ours {
		t.Fatalf("local snapshot names cluster %q, %v; want %s", got, err, ours)
	}
	_, stream := openAll(t, s, id)
	theirs := strings.Repeat("cd", 16)
	s.clusterID = func() string { return theirs }
	id2 := streamSnapshot(t, s, 20, stream)
	if got, err := readSnapshotClusterID(filepath.Join(s.dir, id2, dataDirName)); err != nil || got != theirs {
		t.Fatalf("streamed snapshot names cluster %q, %v; want %s", got, err, theirs)
	}
	// The stream Open sends carries it, covered by the stream's CRCs.
	if _, b := openAll(t, s, id2); !bytes.Contains(b, []byte(theirs)) {
		t.Error("the snapshot stream does not carry the cluster ID")
	}
}
