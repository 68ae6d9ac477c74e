package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"sort"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// DeleteBefore deletes sealed segments whose records are all below offset,
// oldest first, and returns how many it deleted. Concurrent reads of a
// deleted segment finish normally; later ones get *OutOfRangeError.
func (l *Log) DeleteBefore(offset uint64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return 0, err
	}
	segs := l.segments()
	n := 0
	for n < len(segs)-1 && segs[n].next.Load() <= offset {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	l.publish(append([]*segment(nil), segs[n:]...))
	var errs []error
	for _, s := range segs[:n] {
		errs = append(errs, removeSegmentFiles(l.cfg.FS, s))
		s.release()
	}
	errs = append(errs, vfs.Sync(l.cfg.FS, l.dir))
	return n, errors.Join(errs...)
}

// removeSegmentFiles retires s's handles, so that no reader opens the path
// again, and removes its files. Callers hold l.mu.
func removeSegmentFiles(fsys vfs.FS, s *segment) error {
	s.retire()
	err := fsys.Remove(s.path)
	if ierr := fsys.Remove(s.idxPath); ierr != nil && !errors.Is(ierr, os.ErrNotExist) {
		err = errors.Join(err, ierr)
	}
	return err
}

// Truncate removes every record >= offset; NextOffset becomes offset. An
// offset below EarliestOffset empties the log and restarts it at offset.
// The segment that keeps a prefix is rewritten into a new file (never cut in
// place), so concurrent readers and checkpoints keep their view. Truncate is
// not atomic across a crash: after one, records >= offset may survive and
// the caller should truncate again.
func (l *Log) Truncate(offset uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	return l.truncateLocked(offset)
}

func (l *Log) truncateLocked(offset uint64) error {
	segs := l.segments()
	next := segs[len(segs)-1].next.Load()
	if offset > next {
		return &OutOfRangeError{Requested: offset, Earliest: segs[0].base, Next: next}
	}
	if offset == next {
		return nil
	}
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > offset }) - 1
	keep := segs[:max(i, 0)]
	// Newest first, so a crash leaves a contiguous prefix.
	for j := len(segs) - 1; j > i; j-- {
		if err := removeSegmentFiles(l.cfg.FS, segs[j]); err != nil {
			l.err = fmt.Errorf("segment: truncate: %w", err)
			return l.err
		}
	}
	var tail *segment
	var err error
	if i < 0 || segs[i].base == offset {
		if i >= 0 {
			if err := removeSegmentFiles(l.cfg.FS, segs[i]); err != nil {
				l.err = fmt.Errorf("segment: truncate: %w", err)
				return l.err
			}
		}
		tail, err = createSegment(l.cfg.FS, l.dir, offset, l.cfg.Files)
	} else {
		tail, err = l.rewritePrefix(segs[i], offset)
	}
	if err == nil {
		err = vfs.Sync(l.cfg.FS, l.dir)
	}
	if err != nil {
		l.err = fmt.Errorf("segment: truncate: %w", err)
		return l.err
	}
	l.publish(append(append([]*segment(nil), keep...), tail))
	trackActive(l, tail, false) // test-only (flowmesh_faults): the rewritten index is unsynced
	for _, s := range segs[max(i, 0):] {
		s.release()
	}
	return nil
}

// rewritePrefix copies the records of s below offset into new files that
// replace s's by rename, and returns them as the active segment.
func (l *Log) rewritePrefix(s *segment, offset uint64) (*segment, error) {
	_, pos, prev, prevPos, err := s.find(func(r *Record) bool { return r.Offset >= offset })
	if err != nil {
		return nil, err
	}
	fsys := l.cfg.FS
	t := newSegment(fsys, l.dir, s.base, l.cfg.Files, os.O_RDWR)
	// The temporary file is opened outside the FileCache: it is one
	// descriptor for the duration of the call.
	tmp, err := fsys.OpenFile(t.path+tmpSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		tmp.Close()
		fsys.Remove(t.path + tmpSuffix)
		fsys.Remove(t.idxPath + tmpSuffix)
		if noSpace(err) && linkCount(fsys, s.path) == 1 && linkCount(fsys, s.idxPath) <= 1 {
			return l.cutInPlace(s, t, offset, pos, prevPos, prev)
		}
		return nil, err
	}
	if err := copyPrefix(tmp, s.data, pos); err != nil {
		return fail(err)
	}
	if err := closeBatch(tmp, prevPos, pos); err != nil {
		return fail(err)
	}
	if err := datasync(tmp); err != nil {
		return fail(err)
	}
	s.idxMu.RLock()
	for _, e := range s.index {
		if int64(e.pos) < pos {
			t.index = append(t.index, e)
		}
	}
	s.idxMu.RUnlock()
	if err := writeFile(fsys, t.idxPath+tmpSuffix, encodeIndex(t.index)); err != nil {
		return fail(err)
	}
	// Readers of s keep its descriptor; none may open the new files by
	// s's paths.
	s.retire()
	if err := fsys.Rename(t.idxPath+tmpSuffix, t.idxPath); err != nil {
		return fail(err)
	}
	if err := fsys.Rename(t.path+tmpSuffix, t.path); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	return finishPrefix(l, s, t, offset, pos, prev), nil
}

// cutInPlace is rewritePrefix on a filesystem with no space for a copy: it
// cuts s's own files at pos, which needs no space. It is used only when no
// other name links the files (no checkpoint or snapshot holds them, which
// the rewrite exists to protect) and, like the rewrite, only while the log
// has no readers (Open). A crash half-way leaves records >= offset that
// the next truncation removes.
func (l *Log) cutInPlace(s, t *segment, offset uint64, pos, prevPos int64, prev Record) (*segment, error) {
	f, err := l.cfg.FS.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := closeBatch(f, prevPos, pos); err != nil {
		return nil, err
	}
	if err := f.Truncate(pos); err != nil {
		return nil, err
	}
	if err := datasync(f); err != nil {
		return nil, err
	}
	s.idxMu.RLock()
	t.index = nil
	for _, e := range s.index {
		if int64(e.pos) < pos {
			t.index = append(t.index, e)
		}
	}
	s.idxMu.RUnlock()
	if err := l.cfg.FS.Truncate(s.idxPath, int64(len(t.index))*indexEntrySize); err != nil {
		return nil, err
	}
	s.retire()
	return finishPrefix(l, s, t, offset, pos, prev), nil
}

// finishPrefix sets up t, the rewritten prefix of s ending before offset
// at pos, as the active segment.
func finishPrefix(l *Log, s, t *segment, offset uint64, pos int64, prev Record) *segment {
	t.idx = l.cfg.Files.handle(l.cfg.FS, t.idxPath, os.O_RDWR)
	t.synced.Store(pos)
	if n := len(t.index); n > 0 {
		t.lastIdxPos = int64(t.index[n-1].pos)
	}
	t.firstTS.Store(s.firstTS.Load())
	t.firstIndex.Store(s.firstIndex.Load())
	t.lastTS.Store(prev.Timestamp)
	t.lastIndex.Store(prev.Index)
	t.size.Store(pos)
	t.next.Store(offset)
	return t
}

// copyPrefix copies the first n bytes of h's file to dst.
func copyPrefix(dst vfs.File, h *handle, n int64) error {
	f, err := h.get()
	if err != nil {
		return err
	}
	defer h.put()
	_, err = io.Copy(dst, io.NewSectionReader(f, 0, n)) // *os.File: its ReadFrom, as before
	return err
}

// closeBatch marks the frame at [start, end) of f as the end of its batch,
// so that a truncation inside a batch is not undone by recovery.
func closeBatch(f vfs.File, start, end int64) error {
	if start < 0 {
		return nil
	}
	b := make([]byte, end-start)
	if _, err := f.ReadAt(b, start); err != nil {
		return err
	}
	if b[9]&flagBatchEnd != 0 {
		return nil
	}
	b[9] |= flagBatchEnd
	binary.LittleEndian.PutUint32(b[4:], crc32.Checksum(b[framePrefix:], castagnoli))
	_, err := f.WriteAt(b[:framePrefix+2], start)
	return err
}

// TruncateAfterIndex removes every record whose raft Index is above index.
// Records must have been appended with non-decreasing Index.
func (l *Log) TruncateAfterIndex(index uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	for _, s := range l.segments() {
		if s.empty() || s.lastIndex.Load() <= index {
			continue
		}
		off, _, _, _, err := s.find(func(r *Record) bool { return r.Index > index })
		if err != nil {
			return err
		}
		return l.truncateLocked(off)
	}
	return nil
}

// writeFile is os.WriteFile on fsys: it does not sync.
func writeFile(fsys vfs.FS, path string, b []byte) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
