package segment

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// openFDs counts this process's open descriptors (Linux only).
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// TestManyLogsTinyFileBudget opens far more logs (and segments) than the
// descriptor budget: appends, reads every log, reopens and reads again,
// while the process never holds more than the budget.
func TestManyLogsTinyFileBudget(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts descriptors in /proc")
	}
	const (
		logs   = 200
		budget = 16
		per    = 30 // records per log: several segments each
	)
	root := t.TempDir()
	cfg := testConfig()
	cfg.SegmentMaxSize = 512
	open := func(files *FileCache) []*Log {
		cfg.Files = files
		out := make([]*Log, logs)
		for i := range out {
			out[i] = openLog(t, filepath.Join(root, fmt.Sprint(i)), cfg)
		}
		return out
	}
	base := openFDs(t)
	files := NewFileCache(budget)
	ls := open(files)
	for r := uint64(0); r < per; r++ { // round robin: every log stays active
		for i, l := range ls {
			if off, err := l.Append(rec(r)); err != nil || off != r {
				t.Fatalf("log %d: Append(%d) = %d, %v", i, r, off, err)
			}
		}
	}
	for _, l := range ls {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		if n := len(l.Segments()); n < 3 {
			t.Fatalf("log has %d segments, want several", n)
		}
	}
	for _, l := range ls {
		checkRange(t, l, 0, per)
	}
	if n := openFDs(t) - base; n > budget {
		t.Errorf("process holds %d more descriptors with %d logs open, budget %d", n, logs, budget)
	}
	st := files.Stats()
	t.Logf("stats after appends and reads: %+v", st)
	if st.Peak > budget || st.Open > budget || st.InUse != 0 || st.Evictions == 0 {
		t.Errorf("stats = %+v, want peak and open <= %d, nothing in use, evictions", st, budget)
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if st := files.Stats(); st.Open != 0 {
		t.Errorf("after Close: %d files open, want 0", st.Open)
	}

	files = NewFileCache(budget)
	ls = open(files)
	if st := files.Stats(); st.Peak > budget || st.Open > budget {
		t.Errorf("Open of %d logs: stats %+v, want at most %d open", logs, st, budget)
	}
	for _, l := range ls {
		checkRange(t, l, 0, per)
		appendN(t, l, per, 5)
		checkRange(t, l, 0, per+5)
	}
	if n := openFDs(t) - base; n > budget {
		t.Errorf("after reopening, the process holds %d more descriptors, budget %d", n, budget)
	}
}

// TestIdleSyncOpensNothing: syncing logs with nothing new to sync opens no
// file (a node flushes every log on each FlushInterval).
func TestIdleSyncOpensNothing(t *testing.T) {
	cfg := testConfig()
	cfg.Files = NewFileCache(2)
	l := openLog(t, t.TempDir(), cfg)
	appendN(t, l, 0, 10)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	before := cfg.Files.Stats().Opens
	for range 3 {
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if after := cfg.Files.Stats().Opens; after != before {
		t.Errorf("idle Syncs opened %d files, want 0", after-before)
	}
	// After a clean Close, reopening knows the active segment is synced.
	dir := l.dir
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, dir, cfg)
	before = cfg.Files.Stats().Opens
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if after := cfg.Files.Stats().Opens; after != before {
		t.Errorf("Sync after a clean reopen opened %d files, want 0", after-before)
	}
	appendN(t, l, 10, 1)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestRetiredHandle: a descriptor open when its file is replaced keeps
// reading the original; once closed, the path is never reopened.
func TestRetiredHandle(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := NewFileCache(1)
	h := c.handle(vfs.Default, p, os.O_RDONLY)
	f, err := h.get()
	if err != nil {
		t.Fatal(err)
	}
	h.put() // idle, still open
	h.retire()
	if err := os.WriteFile(p+".tmp", []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	if f, err = h.get(); err != nil {
		t.Fatalf("get of an open retired handle: %v", err)
	}
	b := make([]byte, 3)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "old" {
		t.Fatalf("read %q, %v; want the original file's \"old\"", b, err)
	}
	h.put()
	// Another file takes the only slot: h's descriptor is evicted.
	other := c.handle(vfs.Default, filepath.Join(dir, "f"), os.O_RDONLY)
	if _, err := other.get(); err != nil {
		t.Fatal(err)
	}
	other.put()
	if st := c.Stats(); st.Open != 1 || st.Evictions != 1 {
		t.Fatalf("stats %+v, want 1 open and 1 eviction", st)
	}
	if _, err := h.get(); !errors.Is(err, errGone) {
		t.Fatalf("get after retire and eviction: %v, want errGone", err)
	}
	other.close()
	h.close()
	if st := c.Stats(); st.Open != 0 {
		t.Fatalf("stats %+v, want nothing open", st)
	}
}

// TestConcurrentReadersDuringEviction reads many logs concurrently through
// a cache of 4 descriptors while an appender appends, rolls, deletes old
// segments and truncates: descriptors are evicted under the readers all the
// time, and every read must return the right records.
func TestConcurrentReadersDuringEviction(t *testing.T) {
	const logs = 8
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	cfg := testConfig()
	cfg.SegmentMaxSize = 1 << 10
	cfg.Files = NewFileCache(4)
	ls := make([]*Log, logs)
	for i := range ls {
		ls[i] = openLog(t, filepath.Join(t.TempDir(), fmt.Sprint(i)), cfg)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	var reads atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			for !stop.Load() {
				l := ls[rng.IntN(logs)]
				early, next := l.EarliestOffset(), l.NextOffset()
				from := early + rng.Uint64N(next-early+1)
				rs, err := l.Read(from, rng.IntN(50), 0)
				if errors.Is(err, ErrOutOfRange) {
					continue // deleted or truncated meanwhile
				}
				if err != nil {
					errc <- fmt.Errorf("Read(%d): %w", from, err)
					return
				}
				for i := range rs {
					want := rec(from + uint64(i))
					want.Offset = from + uint64(i)
					if !sameRecord(rs[i], want) {
						errc <- fmt.Errorf("Read(%d): record %d has wrong content", from, want.Offset)
						return
					}
				}
				if ts := int64(from) * 1000; len(rs) > 0 {
					// Above from only if the segment of from was deleted.
					if off, err := l.FindOffsetByTime(ts); err == nil && off > from && off > l.EarliestOffset() {
						errc <- fmt.Errorf("FindOffsetByTime(%d) = %d, want <= %d", ts, off, from)
						return
					}
				}
				reads.Add(1)
			}
		}(w)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 99))
	next := make([]uint64, logs)
	deadline := time.Now().Add(time.Second)
	for n := 0; time.Now().Before(deadline) || reads.Load() < 100; n++ {
		i := rng.IntN(logs)
		l := ls[i]
		if _, err := l.Append(rec(next[i])); err != nil {
			t.Fatal(err)
		}
		next[i]++
		switch {
		case n%97 == 0 && next[i] > 40:
			if _, err := l.DeleteBefore(next[i] - 30); err != nil {
				t.Fatal(err)
			}
		case n%89 == 0 && next[i] > 10:
			// Truncate then append the same records again: content stays
			// a function of the offset.
			to := max(next[i]-5, l.EarliestOffset())
			if err := l.Truncate(to); err != nil {
				t.Fatal(err)
			}
			next[i] = to
		case n%50 == 0:
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	st := cfg.Files.Stats()
	t.Logf("%d reads; file cache %+v", reads.Load(), st)
	if st.Evictions == 0 {
		t.Error("no descriptor was evicted: the test did not exercise eviction")
	}
}

// TestCloseDuringReadsWithEviction closes logs and moves their directories
// away (as a deleted resource is) while readers read them through a tiny
// cache: a reader gets records or ErrClosed, never a failed open.
func TestCloseDuringReadsWithEviction(t *testing.T) {
	const logs = 6
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	cfg := testConfig()
	cfg.SegmentMaxSize = 512
	cfg.Files = NewFileCache(2)
	root := t.TempDir()
	ls := make([]*Log, logs)
	for i := range ls {
		ls[i] = openLog(t, filepath.Join(root, fmt.Sprint(i)), cfg)
		appendN(t, ls[i], 0, 60)
	}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	var closedSeen atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			for {
				open := 0
				for _, l := range ls {
					if !l.closed.Load() {
						open++
					}
				}
				if open == 0 {
					return
				}
				l := ls[rng.IntN(logs)]
				from := rng.Uint64N(60)
				rs, err := l.Read(from, 0, 0)
				if errors.Is(err, ErrClosed) {
					closedSeen.Add(1)
					continue
				}
				if err != nil {
					errc <- fmt.Errorf("Read(%d): %w", from, err)
					return
				}
				// A read in flight when the log closes may end early (as
				// one crossing a deleted segment does), never empty.
				if len(rs) == 0 || len(rs) > int(60-from) {
					errc <- fmt.Errorf("Read(%d) returned %d records, want 1..%d", from, len(rs), 60-from)
					return
				}
				for i := range rs {
					want := rec(from + uint64(i))
					want.Offset = from + uint64(i)
					if !sameRecord(rs[i], want) {
						errc <- fmt.Errorf("Read(%d): record %d has wrong content", from, want.Offset)
						return
					}
				}
			}
		}(w)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 99))
	for _, i := range rng.Perm(logs) {
		time.Sleep(time.Duration(rng.IntN(3)) * time.Millisecond) // spread the closes among the reads
		if err := ls[i].Close(); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, fmt.Sprint(i))
		if err := os.Rename(dir, dir+".trash"); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	t.Logf("reads that saw ErrClosed: %d; cache %+v", closedSeen.Load(), cfg.Files.Stats())
}
