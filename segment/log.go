package segment

import (
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// Log is an append-only sequence of records stored in segment files. One
// goroutine at a time may write (writers are serialised internally); any
// number may read concurrently without blocking the writer.
type Log struct {
	dir string
	cfg Config

	mu  sync.Mutex // serialises writers and structural changes
	err error      // sticky write error; the log refuses writes after one

	segs      atomic.Pointer[[]*segment] // copy-on-write; the last is active
	lastIndex atomic.Uint64
	closed    atomic.Bool
}

func (l *Log) segments() []*segment { return *l.segs.Load() }

func (l *Log) publish(segs []*segment) {
	l.segs.Store(&segs)
	l.lastIndex.Store(0)
	for i := len(segs) - 1; i >= 0; i-- {
		if !segs[i].empty() {
			l.lastIndex.Store(segs[i].lastIndex.Load())
			break
		}
	}
}

func (l *Log) active() *segment {
	segs := l.segments()
	return segs[len(segs)-1]
}

// EarliestOffset is the offset of the oldest retained record (equal to
// NextOffset when the log holds no records).
func (l *Log) EarliestOffset() uint64 { return l.segments()[0].base }

// NextOffset is the offset the next appended record will get.
func (l *Log) NextOffset() uint64 { return l.active().next.Load() }

// LastIndex is the highest raft index among the records in the log, or 0.
func (l *Log) LastIndex() uint64 { return l.lastIndex.Load() }

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	var n int64
	for _, s := range l.segments() {
		n += s.size.Load()
	}
	return n
}

// Segments describes every segment, oldest first; only the last is unsealed.
func (l *Log) Segments() []SegmentInfo {
	segs := l.segments()
	out := make([]SegmentInfo, len(segs))
	for i, s := range segs {
		next := s.next.Load()
		out[i] = SegmentInfo{
			BaseOffset: s.base, NextOffset: next, Path: s.path, Size: s.size.Load(),
			Sealed: i < len(segs)-1,
		}
		if next != s.base {
			out[i].FirstTimestamp, out[i].LastTimestamp = s.firstTS.Load(), s.lastTS.Load()
			out[i].FirstIndex, out[i].LastIndex = s.firstIndex.Load(), s.lastIndex.Load()
		}
	}
	return out
}

func (l *Log) writable() error {
	if l.closed.Load() {
		return ErrClosed
	}
	return l.err
}

// Close syncs the active segment and releases the files. It is idempotent;
// reads in flight return what they read (perhaps fewer records than asked)
// or ErrClosed, and none opens a file after Close returns, so the caller may
// move or delete the directory.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	var err error
	if l.err == nil {
		if a := l.active(); a.synced.Load() != a.size.Load() {
			err = syncFile(a.data)
		}
		if err == nil {
			err = vfs.WriteFile(l.cfg.FS, filepath.Join(l.dir, cleanMarker), nil) // syncs l.dir too
		}
	}
	untrack(l) // test-only (flowmesh_faults): a closed log is synced
	for _, s := range l.segments() {
		// The owner may move or delete the directory once Close returns:
		// readers still in flight keep open descriptors or get ErrClosed.
		s.retire()
		s.release()
	}
	return err
}
