//go:build flowmesh_faults

package faults

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Enabled reports whether the named deliberate bug is switched on. It reads
// the environment on every call; the packages with bugs call it once, when
// they build a node (storage.NewWithConfig, fsm.Open), so a test switches
// bugs per node it starts.
func Enabled(name string) bool {
	for _, f := range strings.Split(os.Getenv("FLOWMESH_FAULTS"), ",") {
		if strings.TrimSpace(f) == name {
			return true
		}
	}
	return false
}

var (
	offset   atomic.Int64
	readAt   atomic.Int64
	readLock sync.Mutex
)

// ClockOffset is the offset in FLOWMESH_CLOCK_OFFSET_FILE (0 without one).
func ClockOffset() time.Duration {
	path := os.Getenv("FLOWMESH_CLOCK_OFFSET_FILE")
	if path == "" {
		return 0
	}
	now := time.Now().UnixNano()
	if now-readAt.Load() > int64(100*time.Millisecond) && readLock.TryLock() {
		if b, err := os.ReadFile(path); err == nil {
			if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
				offset.Store(int64(d))
			}
		}
		readAt.Store(now)
		readLock.Unlock()
	}
	return time.Duration(offset.Load())
}

// Clock wraps now with ClockOffset.
func Clock(now func() time.Time) func() time.Time {
	return func() time.Time { return now().Add(ClockOffset()) }
}

// CrashBeforeApply returns the crash-before-apply failpoint, or nil when
// FLOWMESH_CRASH_BEFORE_APPLY_FILE is unset (read once, by the caller's
// constructor). The FSM calls the failpoint with entries raft has already
// written to its log but not yet applied: when the file exists it is
// removed and the process exits, as a crash would. The harness creates the
// file to fire it.
func CrashBeforeApply() func() {
	path := os.Getenv("FLOWMESH_CRASH_BEFORE_APPLY_FILE")
	if path == "" {
		return nil
	}
	return func() {
		if _, err := os.Stat(path); err == nil {
			os.Remove(path)
			os.Exit(99)
		}
	}
}

var loseUnsynced struct {
	once  sync.Once
	mu    sync.Mutex
	drops []namedDrop
}

type namedDrop struct {
	name string
	drop func() string
}

// OnCrashLoseUnsynced registers drop, which must cut every file its store
// tracks back to the length it had at its last successful fsync (and keep
// the store from writing any more) and return a one-line summary. When
// the file named by FLOWMESH_CRASH_LOSE_UNSYNCED_FILE appears (the
// variable is read once, at the first registration; polled every 50 ms),
// the node removes it, runs every registered drop, writes their summaries
// to stderr and to the file's name + ".dropped", and exits with code 99
// without running any shutdown path: a SIGKILL that also loses the page
// cache's unsynced writes.
func OnCrashLoseUnsynced(name string, drop func() string) {
	loseUnsynced.mu.Lock()
	loseUnsynced.drops = append(loseUnsynced.drops, namedDrop{name, drop})
	loseUnsynced.mu.Unlock()
	loseUnsynced.once.Do(func() {
		path := os.Getenv("FLOWMESH_CRASH_LOSE_UNSYNCED_FILE")
		if path == "" {
			return
		}
		go func() {
			for {
				time.Sleep(50 * time.Millisecond)
				if _, err := os.Stat(path); err == nil {
					crashLoseUnsynced(path)
				}
			}
		}()
	})
}

// crashing is set once a lose-unsynced crash has begun (Crashing).
var crashing atomic.Bool

// Crashing reports whether a lose-unsynced crash is under way: its drops
// cut the stores and make their writes fail, and the process exits with
// code 99 once they are done. A test child that exits on a failed write
// must not exit first: it would race the crash's exit code.
func Crashing() bool { return crashing.Load() }

func crashLoseUnsynced(path string) {
	crashing.Store(true)
	os.Remove(path)
	loseUnsynced.mu.Lock() // held until exit: no registration in between
	var lines []string
	for _, d := range loseUnsynced.drops {
		lines = append(lines, d.name+": "+d.drop())
	}
	report := "flowmesh_faults: lose-unsynced crash: " + strings.Join(lines, "; ") + "\n"
	os.Stderr.WriteString(report)
	os.WriteFile(path+".dropped", []byte(report), 0o644)
	os.Exit(99)
}
