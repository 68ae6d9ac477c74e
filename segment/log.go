package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

// Log is an append-only sequence of records stored in segment files. One
// goroutine at a time may write (writers are serialised internally); any
// number may read concurrently without blocking the writer.
type Log struct {
	dir string
	cfg Config

	mu     sync.Mutex // serialises writers and structural changes
	err    error      // sticky write error; the log refuses writes after one
	buf    []byte     // reusable encode buffer
	idxBuf []byte

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
	buf := l.buf[:0]
	idx := l.idxBuf[:0]
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
	l.buf, l.idxBuf = buf, idx
	if _, err := a.f.WriteAt(buf, start); err != nil {
		l.err = fmt.Errorf("segment: write %s: %w", a.path, err)
		return 0, l.err
	}
	if len(entries) > 0 {
		a.idxMu.Lock()
		n := len(a.index)
		a.index = append(a.index, entries...)
		a.idxMu.Unlock()
		if _, err := a.idxF.WriteAt(idx, int64(n)*indexEntrySize); err != nil {
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
	if cap(l.buf) > 8<<20 {
		l.buf, l.idxBuf = nil, nil // don't pin a huge batch's buffer
	}
	return first, nil
}

// Read returns records starting at from: at most maxRecords (<= 0: no limit)
// and at most maxBytes of encoded frames (<= 0: no limit), but always at
// least one record if one exists at from. Key and Payload of the returned
// records alias shared read buffers: treat them as read-only.
func (l *Log) Read(from uint64, maxRecords int, maxBytes int) ([]Record, error) {
	if maxRecords <= 0 {
		maxRecords = math.MaxInt
	}
	if maxBytes <= 0 {
		maxBytes = math.MaxInt
	}
	chunk := 4 << 20
	if maxBytes < chunk {
		chunk = max(maxBytes+l.cfg.IndexInterval, 16<<10)
	}
	for {
		if l.closed.Load() {
			return nil, ErrClosed
		}
		segs := l.segments()
		next := segs[len(segs)-1].next.Load()
		if from == next {
			return nil, nil
		}
		if earliest := segs[0].base; from < earliest || from > next {
			return nil, &OutOfRangeError{Requested: from, Earliest: earliest, Next: next}
		}
		i := sort.Search(len(segs), func(i int) bool { return segs[i].base > from }) - 1
		out := make([]Record, 0, readCapacity(segs[i], from, next, maxRecords, maxBytes))
		budget := maxBytes
		retry := false
		for ; i < len(segs); i++ {
			s := segs[i]
			if !s.acquire() {
				retry = len(out) == 0
				break
			}
			snext := s.next.Load()
			end := s.size.Load()
			start := max(from, s.base)
			if start >= snext {
				s.release()
				continue
			}
			var done bool
			var err error
			out, done, err = s.read(out, start, snext, end, maxRecords, &budget, chunk)
			s.release()
			if err != nil {
				return out, err
			}
			if done {
				break
			}
		}
		if !retry {
			return out, nil
		}
	}
}

// readCapacity estimates how many records a Read returns, so that the
// result slice is allocated once.
func readCapacity(s *segment, from, next uint64, maxRecords, maxBytes int) int {
	est := min(next-from, uint64(maxRecords), 1<<16)
	snext := s.next.Load()
	if n := snext - s.base; n > 0 {
		avg := max(uint64(s.size.Load())/n, 1)
		est = min(est, uint64(maxBytes)/avg+1)
	}
	return int(est)
}

// Sync makes every appended record durable. It does not block appends.
func (l *Log) Sync() error {
	l.mu.Lock()
	if err := l.writable(); err != nil {
		l.mu.Unlock()
		return err
	}
	a := l.active()
	a.acquire()
	l.mu.Unlock()
	defer a.release()
	if err := datasync(a.f); err != nil {
		return fmt.Errorf("segment: sync %s: %w", a.path, err)
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
	if err := datasync(a.f); err != nil {
		return fmt.Errorf("segment: sync %s: %w", a.path, err)
	}
	if err := datasync(a.idxF); err != nil {
		return fmt.Errorf("segment: sync %s: %w", a.idxPath, err)
	}
	s, err := createSegment(l.dir, a.next.Load())
	if err != nil {
		return fmt.Errorf("segment: roll: %w", err)
	}
	if err := syncDir(l.dir); err != nil {
		s.release()
		return fmt.Errorf("segment: roll: %w", err)
	}
	idxF := a.idxF
	a.idxF = nil
	idxF.Close()
	segs := append(append([]*segment(nil), l.segments()...), s)
	l.publish(segs)
	return nil
}

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
		errs = append(errs, removeSegmentFiles(s))
		s.release()
	}
	errs = append(errs, syncDir(l.dir))
	return n, errors.Join(errs...)
}

func removeSegmentFiles(s *segment) error {
	err := os.Remove(s.path)
	if ierr := os.Remove(s.idxPath); ierr != nil && !errors.Is(ierr, os.ErrNotExist) {
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
		if err := removeSegmentFiles(segs[j]); err != nil {
			l.err = fmt.Errorf("segment: truncate: %w", err)
			return l.err
		}
	}
	var tail *segment
	var err error
	if i < 0 || segs[i].base == offset {
		if i >= 0 {
			if err := removeSegmentFiles(segs[i]); err != nil {
				l.err = fmt.Errorf("segment: truncate: %w", err)
				return l.err
			}
		}
		tail, err = createSegment(l.dir, offset)
	} else {
		tail, err = l.rewritePrefix(segs[i], offset)
	}
	if err == nil {
		err = syncDir(l.dir)
	}
	if err != nil {
		l.err = fmt.Errorf("segment: truncate: %w", err)
		return l.err
	}
	l.publish(append(append([]*segment(nil), keep...), tail))
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
	t := newSegment(l.dir, s.base, nil)
	tmp, err := os.OpenFile(t.path+tmpSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	t.f = tmp
	fail := func(err error) (*segment, error) {
		tmp.Close()
		os.Remove(t.path + tmpSuffix)
		return nil, err
	}
	if _, err := tmp.ReadFrom(io.NewSectionReader(s.f, 0, pos)); err != nil {
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
	if err := os.WriteFile(t.idxPath+tmpSuffix, encodeIndex(t.index), 0o644); err != nil {
		return fail(err)
	}
	if err := os.Rename(t.idxPath+tmpSuffix, t.idxPath); err != nil {
		return fail(err)
	}
	if err := os.Rename(t.path+tmpSuffix, t.path); err != nil {
		return fail(err)
	}
	if t.idxF, err = os.OpenFile(t.idxPath, os.O_RDWR, 0); err != nil {
		tmp.Close()
		return nil, err
	}
	if n := len(t.index); n > 0 {
		t.lastIdxPos = int64(t.index[n-1].pos)
	}
	t.firstTS.Store(s.firstTS.Load())
	t.firstIndex.Store(s.firstIndex.Load())
	t.lastTS.Store(prev.Timestamp)
	t.lastIndex.Store(prev.Index)
	t.size.Store(pos)
	t.next.Store(offset)
	return t, nil
}

// closeBatch marks the frame at [start, end) of f as the end of its batch,
// so that a truncation inside a batch is not undone by recovery.
func closeBatch(f *os.File, start, end int64) error {
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

// FindOffsetByTime returns the first offset whose Timestamp is >= ts, or
// NextOffset if there is none. It assumes timestamps that do not decrease
// across segments (the leader stamps them that way).
func (l *Log) FindOffsetByTime(ts int64) (uint64, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	segs := l.segments()
	for _, s := range segs {
		if s.empty() || s.lastTS.Load() < ts {
			continue
		}
		if !s.acquire() {
			return l.FindOffsetByTime(ts)
		}
		off, _, _, _, err := s.find(func(r *Record) bool { return r.Timestamp >= ts })
		s.release()
		return off, err
	}
	return segs[len(segs)-1].next.Load(), nil
}

// Checkpoint seals the active segment (if it holds records), makes it
// durable, and hard-links every sealed segment and index into dstDir, which
// Open can then use. dstDir gets a fresh empty active segment of its own, so
// appending there never writes into a shared file. Cost scales with the
// number of files, not bytes.
func (l *Log) Checkpoint(dstDir string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if !l.active().empty() {
		if err := l.rollLocked(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dstDir, 0o755); err != nil {
		return fmt.Errorf("segment: checkpoint: %w", err)
	}
	segs := l.segments()
	for _, s := range segs[:len(segs)-1] {
		for _, p := range []string{s.path, s.idxPath} {
			if err := os.Link(p, filepath.Join(dstDir, filepath.Base(p))); err != nil {
				return fmt.Errorf("segment: checkpoint: %w", err)
			}
		}
	}
	a, err := createSegment(dstDir, l.active().base)
	if err != nil {
		return fmt.Errorf("segment: checkpoint: %w", err)
	}
	a.release()
	if err := syncDir(dstDir); err != nil {
		return fmt.Errorf("segment: checkpoint: %w", err)
	}
	return nil
}

// Close syncs the active segment and releases the files. It is idempotent;
// reads in flight finish normally.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return nil
	}
	var err error
	if l.err == nil {
		err = datasync(l.active().f)
		if err == nil {
			err = writeFileSync(filepath.Join(l.dir, cleanMarker), nil)
		}
		if err == nil {
			err = syncDir(l.dir)
		}
	}
	for _, s := range l.segments() {
		s.release()
	}
	return err
}
