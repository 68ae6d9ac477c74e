package segment

import (
	"errors"
	"fmt"
	"sync"
	"syscall"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// Append appends one record and returns its offset.
func (l *Log) Append(r Record) (uint64, error) {
	return l.AppendBatch([]Record{r})
}

// AppendBatch appends records as one unit and returns the first offset.
// Readers see all of them or none, and after a crash recovery keeps all or
// none. The batch is written with one write call into one segment.
func (l *Log) AppendBatch(rs []Record) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	a := l.active()
	if len(rs) == 0 {
		return a.next.Load(), nil
	}
	total := 0
	for i := range rs {
		if n := dataSize(&rs[i]); n > l.cfg.MaxRecordSize {
			return 0, fmt.Errorf("%w: record %d of batch has %d bytes, limit %d", ErrRecordTooLarge, i, n, l.cfg.MaxRecordSize)
		}
		total += frameSize(&rs[i])
	}
	if total > maxSegmentSize {
		return 0, fmt.Errorf("%w: batch of %d bytes exceeds %d", ErrRecordTooLarge, total, maxSegmentSize)
	}
	if !a.empty() && (a.size.Load()+int64(total) > l.cfg.SegmentMaxSize ||
		l.cfg.SegmentMaxAge > 0 && rs[0].Timestamp-a.firstTS.Load() >= int64(l.cfg.SegmentMaxAge)) {
		if err := l.rollLocked(); err != nil {
			return 0, err
		}
		a = l.active()
	}
	first := a.next.Load()
	start := a.size.Load()
	bufs := encodeBufs.Get().(*encodeBuf)
	defer putEncodeBuf(bufs)
	buf := bufs.data[:0]
	idx := bufs.idx[:0]
	var entries []indexEntry
	lastIdxPos := a.lastIdxPos
	maxIndex := l.lastIndex.Load()
	for i := range rs {
		pos := start + int64(len(buf))
		if pos-lastIdxPos >= int64(l.cfg.IndexInterval) {
			e := indexEntry{rel: uint32(first + uint64(i) - a.base), pos: uint32(pos)}
			entries = append(entries, e)
			idx = appendIndexEntry(idx, e)
			lastIdxPos = pos
		}
		var flags byte
		if i == 0 {
			flags |= flagBatchStart
		}
		if i == len(rs)-1 {
			flags |= flagBatchEnd
		}
		buf = encodeFrame(buf, &rs[i], first+uint64(i), flags)
		maxIndex = max(maxIndex, rs[i].Index)
	}
	bufs.data, bufs.idx = buf, idx
	if err := writeAt(a.data, buf, start); err != nil {
		if noSpace(err) {
			// Bytes past the published size are overwritten by the next
			// append, or cut by recovery as a torn tail.
			return 0, fmt.Errorf("%w: write %s: %v", ErrNoSpace, a.path, err)
		}
		l.err = fmt.Errorf("segment: write %s: %w", a.path, err)
		return 0, l.err
	}
	if len(entries) > 0 {
		a.idxMu.Lock()
		n := len(a.index)
		a.index = append(a.index, entries...)
		a.idxMu.Unlock()
		if err := writeAt(a.idx, idx, int64(n)*indexEntrySize); err != nil {
			if noSpace(err) {
				// The entries point past the published size: drop them, so
				// that appending the batch again adds them once.
				a.idxMu.Lock()
				a.index = a.index[:n]
				a.idxMu.Unlock()
				return 0, fmt.Errorf("%w: write %s: %v", ErrNoSpace, a.idxPath, err)
			}
			l.err = fmt.Errorf("segment: write %s: %w", a.idxPath, err)
			return 0, l.err
		}
		a.lastIdxPos = lastIdxPos
	}
	if a.empty() {
		a.firstTS.Store(rs[0].Timestamp)
		a.firstIndex.Store(rs[0].Index)
	}
	a.lastTS.Store(rs[len(rs)-1].Timestamp)
	a.lastIndex.Store(maxIndex)
	a.size.Store(start + int64(len(buf)))
	a.next.Store(first + uint64(len(rs)))
	l.lastIndex.Store(maxIndex)
	return first, nil
}

// encodeBuf is a batch's encode buffers. They come from one pool for all
// logs, not one pair per log: a buffer kept per log grows to the largest
// batch that log saw (up to a raft entry, 512 KiB), so a node with many
// partitions written once each in big batches would pin that much per
// partition. The pool holds about one pair per concurrent appender.
type encodeBuf struct{ data, idx []byte }

var encodeBufs = sync.Pool{New: func() any { return new(encodeBuf) }}

// putEncodeBuf returns bufs to the pool unless a huge batch grew them.
func putEncodeBuf(bufs *encodeBuf) {
	if cap(bufs.data) > 8<<20 {
		return
	}
	encodeBufs.Put(bufs)
}

// noSpace reports whether err says the filesystem (or the user's quota) is
// full: a write that may succeed once space returns.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

func writeAt(h *handle, b []byte, pos int64) error {
	f, err := h.get()
	if err != nil {
		return err
	}
	defer h.put()
	_, err = f.WriteAt(b, pos)
	return err
}

// syncFile fdatasyncs h's file. A descriptor closed by the FileCache since
// the last write is opened again: fdatasync flushes the file's dirty pages
// whichever descriptor wrote them.
func syncFile(h *handle) error {
	f, err := h.get()
	if err != nil {
		return err
	}
	defer h.put()
	return datasync(f)
}

// Sync makes every appended record durable. It does not block appends, and
// opens no file when nothing was appended since the last Sync.
func (l *Log) Sync() error {
	l.mu.Lock()
	if err := l.writable(); err != nil {
		l.mu.Unlock()
		return err
	}
	a := l.active()
	size := a.size.Load()
	if a.synced.Load() == size {
		l.mu.Unlock()
		return nil
	}
	a.acquire()
	mark := syncMark(a) // test-only (flowmesh_faults); 0 otherwise
	l.mu.Unlock()
	defer a.release()
	if err := syncFile(a.data); err != nil {
		return l.fail(fmt.Errorf("segment: sync %s: %w", a.path, err))
	}
	markSynced(l, a, mark)
	// Concurrent Syncs may finish out of order: never lower the mark.
	for {
		old := a.synced.Load()
		if old >= size || a.synced.CompareAndSwap(old, size) {
			break
		}
	}
	return nil
}

// Roll seals the active segment if it holds records; the next append starts
// a new segment.
func (l *Log) Roll() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if l.active().empty() {
		return nil
	}
	return l.rollLocked()
}

// rollLocked makes the sealed segment durable (its index included) before
// creating the next, so that only the last segment can ever have a torn tail.
func (l *Log) rollLocked() error {
	a := l.active()
	if err := syncFile(a.data); err != nil {
		l.err = fmt.Errorf("segment: sync %s: %w", a.path, err)
		return l.err
	}
	if err := syncFile(a.idx); err != nil {
		l.err = fmt.Errorf("segment: sync %s: %w", a.idxPath, err)
		return l.err
	}
	a.synced.Store(a.size.Load())
	s, err := createSegment(l.cfg.FS, l.dir, a.next.Load(), l.cfg.Files)
	if err != nil {
		return fmt.Errorf("segment: roll: %w", err)
	}
	if err := vfs.Sync(l.cfg.FS, l.dir); err != nil {
		s.release()
		return fmt.Errorf("segment: roll: %w", err)
	}
	idx := a.idx
	a.idx = nil
	idx.close()
	segs := append(append([]*segment(nil), l.segments()...), s)
	l.publish(segs)
	trackActive(l, s, true) // test-only (flowmesh_faults)
	return nil
}

// fail makes err, a failed fsync, the log's sticky error unless it has one:
// the kernel may have dropped the pages it could not write, so a later
// fsync that succeeds would prove nothing. Callers do not hold l.mu.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	if l.err == nil && !l.closed.Load() {
		l.err = err
	}
	l.mu.Unlock()
	return err
}
