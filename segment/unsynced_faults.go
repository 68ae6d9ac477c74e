//go:build flowmesh_faults

package segment

import (
	"fmt"
	"os"
	"sync"

	"github.com/flowmesh/flowmesh/internal/faults"
)

// Test-only tracking of unsynced writes, for the lose-unsynced crash of the
// fault-injection harness (internal/faults, FLOWMESH_CRASH_LOSE_UNSYNCED_FILE).
//
// Only a log's active segment can hold unsynced bytes: a roll syncs the
// sealed segment and its index before the next segment exists, and Close
// syncs the active segment. So for every open Log the tracker keeps the
// active segment and the lengths of its .log and .idx files at their last
// successful fsync:
//
//   - Open: the lengths after recovery. Bytes a previous process left in
//     the page cache count as synced (the tracker cannot know better); the
//     index was just rewritten and synced.
//   - a roll: the new segment, 0 and 0 (created, never synced).
//   - Truncate: the rewritten prefix was synced before its rename, its
//     index was not (0); a recreated segment is 0 and 0.
//   - Sync: the size published before the fdatasync began (appends made
//     during the call may or may not be on disk; counting them lost is a
//     possible outcome of a crash at that moment).
//   - Close: forgotten.
//
// dropUnsynced takes every tracked log's writer lock (and keeps it: the
// process exits right after), then cuts each file back to its synced
// length. Synced lengths always fall on batch boundaries.

type trackedSegment struct {
	seg        *segment
	dataSynced int64
	idxSynced  int64
}

var tracker = struct {
	mu   sync.Mutex
	logs map[*Log]*trackedSegment
}{logs: map[*Log]*trackedSegment{}}

func init() { faults.OnCrashLoseUnsynced("segment", dropUnsynced) }

// trackActive records s as l's active segment, its data synced up to its
// current size and its index up to its current entries if idxSynced.
// Callers hold l.mu (or own l exclusively, in Open).
func trackActive(l *Log, s *segment, idxSynced bool) {
	t := &trackedSegment{seg: s, dataSynced: s.size.Load()}
	if idxSynced {
		s.idxMu.RLock()
		t.idxSynced = int64(len(s.index)) * indexEntrySize
		s.idxMu.RUnlock()
	}
	tracker.mu.Lock()
	tracker.logs[l] = t
	tracker.mu.Unlock()
}

// syncMark is the size an fdatasync of s starting now will cover at least;
// called under l.mu.
func syncMark(s *segment) int64 { return s.size.Load() }

// markSynced records a successful fdatasync of s's data file that began at
// size n, unless s is no longer l's active segment (a roll synced it whole).
func markSynced(l *Log, s *segment, n int64) {
	tracker.mu.Lock()
	if t := tracker.logs[l]; t != nil && t.seg == s {
		t.dataSynced = max(t.dataSynced, n)
	}
	tracker.mu.Unlock()
}

// untrack forgets l (Close: everything is synced).
func untrack(l *Log) {
	tracker.mu.Lock()
	delete(tracker.logs, l)
	tracker.mu.Unlock()
}

// trackedLengths reports l's tracked active segment and synced lengths
// (for tests).
func trackedLengths(l *Log) (s *segment, dataSynced, idxSynced int64, ok bool) {
	tracker.mu.Lock()
	defer tracker.mu.Unlock()
	t := tracker.logs[l]
	if t == nil {
		return nil, 0, 0, false
	}
	return t.seg, t.dataSynced, t.idxSynced, true
}

// dropUnsynced cuts every tracked file back to its synced length. It
// leaves every tracked log locked, so the caller must exit right after.
func dropUnsynced() string {
	lockTracked()
	return cutTracked()
}

// lockTracked returns with tracker.mu and the writer lock of every tracked
// log held (and returns those logs): no append, roll, truncate, open or
// close can run until they are released.
func lockTracked() []*Log {
	locked := map[*Log]bool{}
	var out []*Log
	for {
		tracker.mu.Lock()
		var todo []*Log
		for l := range tracker.logs {
			if !locked[l] {
				todo = append(todo, l)
			}
		}
		if len(todo) == 0 {
			return out
		}
		// Writers take l.mu before tracker.mu: never wait for l.mu while
		// holding tracker.mu.
		tracker.mu.Unlock()
		for _, l := range todo {
			l.mu.Lock()
			locked[l] = true
			out = append(out, l)
		}
	}
}

// cutTracked truncates the tracked files; callers hold what lockTracked
// takes.
func cutTracked() string {
	var files, cut int
	var bytes int64
	var errs []string
	for _, t := range tracker.logs {
		s := t.seg
		type file struct {
			path   string
			synced int64
		}
		fs := []file{{s.path, t.dataSynced}}
		if s.idx != nil {
			fs = append(fs, file{s.idxPath, t.idxSynced})
		}
		for _, c := range fs {
			files++
			fi, err := os.Stat(c.path)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", c.path, err))
				continue
			}
			if fi.Size() <= c.synced {
				continue
			}
			if err := os.Truncate(c.path, c.synced); err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", c.path, err))
				continue
			}
			cut++
			bytes += fi.Size() - c.synced
		}
	}
	out := fmt.Sprintf("cut %d unsynced bytes from %d of %d tracked files (%d logs)", bytes, cut, files, len(tracker.logs))
	if len(errs) > 0 {
		out += fmt.Sprintf("; errors: %v", errs)
	}
	return out
}
