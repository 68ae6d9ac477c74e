package cluster

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"
)

func TestLogStoreKindIsKeptPerDataDir(t *testing.T) {
	for _, tc := range []struct{ first, second, wantErr, want string }{
		{LogStoreBolt, LogStoreWAL, "holds a bolt raft log", ""},
		{LogStoreWAL, LogStoreBolt, "holds a raft-wal log", ""},
		{LogStoreWAL, LogStoreWAL, "", LogStoreWAL},
		{LogStoreBolt, "", "", LogStoreBolt}, // an old dir keeps bolt without a flag
		{LogStoreBolt, LogStoreBolt, "", LogStoreBolt},
		{"", "", "", LogStoreWAL}, // the default for a new dir (DefaultLogStore)
		{"", LogStoreBolt, "holds a raft-wal log", ""},
		{"", LogStoreWAL, "", LogStoreWAL},
		{LogStoreWAL, "", "", LogStoreWAL}, // a wal dir keeps wal without a flag
	} {
		dir := t.TempDir()
		s, err := openLogStore(dir, tc.first)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = openLogStore(dir, tc.second)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%q then %q: %v", tc.first, tc.second, err)
				continue
			}
			s.Close()
			if got, _ := DetectLogStore(dir); got != tc.want {
				t.Errorf("%q then %q: dir holds %q, want %q", tc.first, tc.second, got, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q then %q: error %v, want %q", tc.first, tc.second, err, tc.wantErr)
		}
	}
	if _, err := openLogStore(t.TempDir(), "sqlite"); err == nil {
		t.Error("unknown log store accepted")
	}
	// Both stores in one dir (a botched manual conversion): refused.
	dir := t.TempDir()
	s, err := openLogStore(dir, LogStoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Mkdir(filepath.Join(dir, walDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := openLogStore(dir, ""); err == nil || !strings.Contains(err.Error(), "holds both") {
		t.Errorf("dir with raft.db and wal/: %v", err)
	}
}

// TestConvertLogStoreCopiesEverything converts a compacted log (first
// index > 1) with raft's stable keys both ways and compares.
func TestConvertLogStoreCopiesEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := openLogStore(dir, LogStoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	if err := storeCrashBatch(s, 1, 300); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(1, 40); err != nil { // a snapshot compacted the head
		t.Fatal(err)
	}
	s.SetUint64([]byte("CurrentTerm"), 19)
	s.SetUint64([]byte("LastVoteTerm"), 18)
	s.Set([]byte("LastVoteCand"), []byte("node-2"))
	s.Close()
	for _, to := range []string{LogStoreWAL, LogStoreBolt} {
		res, err := ConvertLogStore(dir, to)
		if err != nil {
			t.Fatal(err)
		}
		if res.First != 41 || res.Last != 300 || !exists(res.Backup) || exists(filepath.Join(dir, "convert-tmp")) {
			t.Fatalf("to %s: %+v", to, res)
		}
		s, err := openLogStore(dir, "")
		if err != nil {
			t.Fatal(err)
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		term, _ := s.GetUint64([]byte("CurrentTerm"))
		vterm, _ := s.GetUint64([]byte("LastVoteTerm"))
		cand, _ := s.Get([]byte("LastVoteCand"))
		if first != 41 || last != 300 || term != 19 || vterm != 18 || string(cand) != "node-2" {
			t.Fatalf("to %s: range %d-%d, term %d, vote %d for %q", to, first, last, term, vterm, cand)
		}
		for i := first; i <= last; i++ {
			var l raft.Log
			if err := s.GetLog(i, &l); err != nil || !sameEntry(&l, crashEntry(i)) {
				t.Fatalf("to %s: entry %d: %v", to, i, err)
			}
		}
		s.Close()
	}
	if _, err := ConvertLogStore(dir, LogStoreBolt); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("convert to the store the dir holds: %v", err)
	}
	if _, err := ConvertLogStore(t.TempDir(), LogStoreWAL); err == nil || !strings.Contains(err.Error(), "holds no raft log") {
		t.Fatalf("convert of an empty dir: %v", err)
	}
}

// TestWALDeletedHeadIsNotServed: after DeleteRange of the head (log
// compaction), GetLog of a deleted index is ErrLogNotFound in both stores,
// including entries still inside raft-wal's tail segment.
func TestWALDeletedHeadIsNotServed(t *testing.T) {
	for _, kind := range []string{LogStoreWAL, LogStoreBolt} {
		s, err := openLogStore(t.TempDir(), kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := storeCrashBatch(s, 1, 30); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteRange(1, 25); err != nil {
			t.Fatal(err)
		}
		for i := uint64(1); i <= 30; i++ {
			var l raft.Log
			err := s.GetLog(i, &l)
			if i <= 25 && !errors.Is(err, raft.ErrLogNotFound) {
				t.Errorf("%s: GetLog(%d) after DeleteRange(1, 25): %v, index %d", kind, i, err, l.Index)
			}
			if i > 25 && (err != nil || !sameEntry(&l, crashEntry(i))) {
				t.Errorf("%s: GetLog(%d): %v", kind, i, err)
			}
		}
		s.Close()
	}
}

// TestLogStoreMonotonicReachesRaft: raft sees raft-wal as monotonic
// through the watchdog's timing wrapper and its log cache, and bolt not.
func TestLogStoreMonotonicReachesRaft(t *testing.T) {
	for kind, want := range map[string]bool{LogStoreWAL: true, LogStoreBolt: false} {
		s, err := openLogStore(t.TempDir(), kind)
		if err != nil {
			t.Fatal(err)
		}
		cache, err := raft.NewLogCache(4, &timedLogStore{LogStore: s})
		if err != nil {
			t.Fatal(err)
		}
		if got := cache.IsMonotonic(); got != want {
			t.Errorf("%s: IsMonotonic %v, want %v", kind, got, want)
		}
		s.Close()
	}
}

// TestWALReadsSealedSegmentsInProcess reads every entry back from the
// store that wrote it while segments roll: sealed segments are read
// through sealFiler's readers, not the writers that filled them.
func TestWALReadsSealedSegmentsInProcess(t *testing.T) {
	walSegmentSize = 16 << 10
	t.Cleanup(func() { walSegmentSize = 0 })
	s, err := openLogStore(t.TempDir(), LogStoreWAL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	next := uint64(1)
	for b := 0; b < 300; b++ {
		if err := storeCrashBatch(s, next, b%7+1); err != nil {
			t.Fatal(err)
		}
		next += uint64(b%7 + 1)
		if b%50 == 49 {
			if _, err := checkPrefix(s, false); err != nil {
				t.Fatalf("after batch %d: %v", b, err)
			}
		}
	}
	r, err := checkPrefix(s, false)
	if err != nil || r.last != next-1 {
		t.Fatalf("last %d, want %d: %v", r.last, next-1, err)
	}
}

// failDeleteVFS refuses to delete segment files.
type failDeleteVFS struct{ types.VFS }

func (failDeleteVFS) Delete(dir, name string) error {
	return errors.New("delete refused by the test")
}

// TestWALLogsToClusterLogger: raft-wal's own lines (here a segment file it
// cannot delete after the head of the log is dropped) go to the logger
// the cluster gives it (the node's slog handler), not to stderr.
func TestWALLogsToClusterLogger(t *testing.T) {
	walSegmentSize = 4 << 10 // several segments, so the head drop deletes files
	t.Cleanup(func() { walSegmentSize = 0 })
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	s, err := openLogStoreVFS(t.TempDir(), LogStoreWAL, failDeleteVFS{fs.New()}, newHCLog(logger, "raft-wal"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for first := uint64(1); first < 400; first += 20 {
		if err := storeCrashBatch(s, first, 20); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteRange(1, 350); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		out := buf.String()
		mu.Unlock()
		if strings.Contains(out, "failed to delete old segment") {
			if !strings.Contains(out, "component=raft-wal") || !strings.Contains(out, "delete refused by the test") {
				t.Fatalf("raft-wal's line lacks its component or cause:\n%s", out)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no raft-wal line on the cluster's logger after dropping the head; it got:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
