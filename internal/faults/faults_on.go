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
// the environment on every call, so tests can switch bugs per test.
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

// CrashBeforeApply exits the process, as a crash would, when the file named
// by FLOWMESH_CRASH_BEFORE_APPLY_FILE exists: the FSM calls it with entries
// raft has already written to its log but not yet applied. The harness
// creates the file to fire the failpoint.
func CrashBeforeApply() {
	path := os.Getenv("FLOWMESH_CRASH_BEFORE_APPLY_FILE")
	if path == "" {
		return
	}
	if _, err := os.Stat(path); err == nil {
		os.Remove(path)
		os.Exit(99)
	}
}
