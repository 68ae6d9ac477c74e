//go:build flowmesh_faults

package segment

import (
	"errors"
	"os"
	"sync"
	"testing"
)

var errCrashed = errors.New("crashed by the test")

// crash runs the lose-unsynced cut as the node does (dropUnsynced), then,
// unlike the node, which exits, releases the locks; crashed logs refuse
// further writes, as if their process were gone.
func crash(t *testing.T, crashed ...*Log) string {
	t.Helper()
	return crashThen(func() {}, crashed...)
}

// crashThen is crash calling then before the locks are released: a node
// would have exited by then.
func crashThen(then func(), crashed ...*Log) string {
	logs := lockTracked()
	out := cutTracked()
	then()
	for _, l := range logs {
		for _, c := range crashed {
			if l == c {
				l.err = errCrashed
			}
		}
		l.mu.Unlock()
	}
	tracker.mu.Unlock()
	return out
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func wantTracked(t *testing.T, l *Log, base uint64, data, idx int64) *segment {
	t.Helper()
	s, d, i, ok := trackedLengths(l)
	if !ok {
		t.Fatal("log not tracked")
	}
	if s.base != base || d != data || i != idx {
		t.Fatalf("tracked segment %d synced %d/%d, want segment %d synced %d/%d", s.base, d, i, base, data, idx)
	}
	return s
}

func TestUnsyncedTrackedAndCut(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, testConfig()) // never closed: it "crashes"
	if err != nil {
		t.Fatal(err)
	}
	s := wantTracked(t, l, 0, 0, 0) // created, never synced
	appendN(t, l, 0, 50)
	wantTracked(t, l, 0, 0, 0)
	if fileSize(t, s.path) == 0 || fileSize(t, s.idxPath) == 0 {
		t.Fatal("appends wrote nothing")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	synced := fileSize(t, s.path)
	wantTracked(t, l, 0, synced, 0) // Sync covers the data file only
	appendN(t, l, 50, 30)
	if fileSize(t, s.path) <= synced {
		t.Fatal("no unsynced tail")
	}
	t.Log(crash(t, l))
	if got := fileSize(t, s.path); got != synced {
		t.Fatalf("data file cut to %d, want its synced length %d", got, synced)
	}
	if got := fileSize(t, s.idxPath); got != 0 {
		t.Fatalf("index cut to %d, want 0 (never synced)", got)
	}
	if _, err := l.Append(rec(80)); !errors.Is(err, errCrashed) {
		t.Fatalf("append after the crash: %v", err)
	}

	l2 := openLog(t, dir, testConfig())
	checkRange(t, l2, 0, 50)
	// Open recovered and synced (or found) the data; the index is rewritten.
	s2 := wantTracked(t, l2, 0, synced, fileSize(t, s.idxPath))
	if fileSize(t, s2.idxPath) == 0 {
		t.Fatal("index not rebuilt on open")
	}
	if err := l2.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := trackedLengths(l2); ok {
		t.Fatal("a closed log is still tracked")
	}
}

func TestUnsyncedRollAndTruncate(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentMaxSize = 2048
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 100) // several rolls: sealed segments are synced
	segs := l.Segments()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want rolls", len(segs))
	}
	active := segs[len(segs)-1]
	s := wantTracked(t, l, active.BaseOffset, 0, 0) // made by the last roll
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	wantTracked(t, l, active.BaseOffset, active.Size, 0)
	appendN(t, l, 100, 3)
	// Truncate inside the active segment: the kept prefix is rewritten and
	// synced, its index is not.
	cut := active.BaseOffset + (100-active.BaseOffset)/2
	if err := l.Truncate(cut); err != nil {
		t.Fatal(err)
	}
	kept := l.Segments()[len(segs)-1].Size
	wantTracked(t, l, active.BaseOffset, kept, 0)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for i := cut; l.Segments()[len(l.Segments())-1].BaseOffset == active.BaseOffset; i++ { // roll again
		if _, err := l.Append(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
	last := l.Segments()[len(l.Segments())-1]
	if s2 := wantTracked(t, l, last.BaseOffset, 0, 0); s2 == s {
		t.Fatal("still tracking the sealed segment")
	}
	t.Log(crash(t, l))
	if got := fileSize(t, last.Path); got != 0 {
		t.Fatalf("never-synced segment cut to %d bytes, want 0", got)
	}
	l2 := openLog(t, dir, cfg)
	checkRange(t, l2, 0, last.BaseOffset) // the sealed segments are all there
}

// Appends racing the cut: the cut waits for the writer lock, so what
// survives is a whole number of batches and covers every Sync that
// returned.
func TestUnsyncedCutRacingAppends(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentMaxSize = 16 << 10
	l, err := Open(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	syncedThrough := uint64(0)
	crashed := false // set before the cut releases its locks
	var wg sync.WaitGroup
	wg.Add(1)
	started := make(chan struct{})
	go func() {
		defer wg.Done()
		for i := uint64(0); ; i++ {
			if _, err := l.Append(rec(i)); err != nil {
				if !errors.Is(err, errCrashed) {
					t.Error(err)
				}
				return
			}
			if i%7 == 0 {
				if err := l.Sync(); err != nil {
					if !errors.Is(err, errCrashed) {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				if !crashed { // a Sync that returns after the cut returned from a dead process
					syncedThrough = i + 1
				}
				mu.Unlock()
			}
			if i == 500 {
				close(started)
			}
		}
	}()
	<-started
	out := crashThen(func() {
		mu.Lock()
		crashed = true
		mu.Unlock()
	}, l)
	wg.Wait()
	t.Log(out)
	l2 := openLog(t, dir, cfg)
	next := l2.NextOffset()
	mu.Lock()
	defer mu.Unlock()
	if next < syncedThrough {
		t.Fatalf("after the cut the log ends at %d, but Sync returned for every record below %d", next, syncedThrough)
	}
	checkRange(t, l2, 0, next)
}
