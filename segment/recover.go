package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// Open opens (creating if needed) the log in dir and recovers it: the last
// segment's torn or corrupt tail is cut back to the end of its last complete
// batch and its index repaired (after a clean Close only the frames after
// the last index entry are verified, otherwise the whole segment); sealed segments are checked against their
// index (and the frames after the last index entry verified). Damage inside
// a sealed segment yields a *CorruptionError.
func Open(dir string, cfg Config) (*Log, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	fsys := cfg.FS
	if err := vfs.MkdirAll(fsys, dir, 0o755); err != nil {
		return nil, fmt.Errorf("segment: open: %w", err)
	}
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("segment: open: %w", err)
	}
	var bases []uint64
	logs := map[string]bool{}
	for _, e := range ents {
		name := e.Name()
		if base, ok := parseSegmentName(name); ok && e.Type().IsRegular() {
			bases = append(bases, base)
			logs[strings.TrimSuffix(name, logSuffix)] = true
		}
	}
	for _, e := range ents {
		name := e.Name()
		stale := strings.HasSuffix(name, tmpSuffix) ||
			strings.HasSuffix(name, idxSuffix) && !logs[strings.TrimSuffix(name, idxSuffix)]
		if stale {
			if err := fsys.Remove(filepath.Join(dir, name)); err != nil {
				return nil, fmt.Errorf("segment: open: %w", err)
			}
		}
	}
	slices.Sort(bases)
	// Without a clean shutdown, unsynced writes may have reached the disk
	// out of order: verify the whole last segment, not only its tail. The
	// marker goes before any new write can happen.
	marker := filepath.Join(dir, cleanMarker)
	_, err = fsys.Stat(marker)
	clean := err == nil
	if clean {
		if err := fsys.Remove(marker); err != nil {
			return nil, fmt.Errorf("segment: open: %w", err)
		}
		if err := vfs.Sync(fsys, dir); err != nil {
			return nil, fmt.Errorf("segment: open: %w", err)
		}
	}
	l := &Log{dir: dir, cfg: cfg}
	var segs []*segment
	fail := func(err error) (*Log, error) {
		for _, s := range segs {
			s.release()
		}
		return nil, err
	}
	if len(bases) == 0 {
		s, err := createSegment(fsys, dir, 0, cfg.Files)
		if err != nil {
			return nil, fmt.Errorf("segment: open: %w", err)
		}
		if err := vfs.Sync(fsys, dir); err != nil {
			s.release()
			return nil, fmt.Errorf("segment: open: %w", err)
		}
		segs = append(segs, s)
	}
	for i, base := range bases {
		var s *segment
		if i < len(bases)-1 {
			s, err = openSealed(dir, base, bases[i+1], cfg)
		} else {
			s, err = openActive(dir, base, cfg, clean)
		}
		if err != nil {
			return fail(err)
		}
		segs = append(segs, s)
	}
	l.publish(segs)
	trackActive(l, segs[len(segs)-1], true) // test-only (flowmesh_faults)
	return l, nil
}

// tailScan is the outcome of scanning frames from an index entry.
type tailScan struct {
	end       int64  // end of the last frame closing a batch
	next      uint64 // offset after that frame
	lastTS    int64
	lastIndex uint64
	entries   []indexEntry // new index entries for frames before end
	complete  bool         // at least one batch closed
	stopPos   int64        // where scanning stopped
	stopErr   error        // why (io.EOF at a clean end)
	atBatch   bool         // the first frame starts a batch
}

func scanFrom(s *segment, f io.ReaderAt, size int64, start indexEntry, interval int) tailScan {
	sc := scanner{f: f, pos: int64(start.pos), end: size, chunk: recoveryChunk}
	off := s.base + uint64(start.rel)
	lastIdxPos := int64(start.pos)
	var ts tailScan
	var pending []indexEntry
	for {
		pos := sc.pos
		r, _, flags, err := sc.next()
		if err == nil && r.Offset != off {
			err = frameError(fmt.Sprintf("frame has offset %d, want %d", r.Offset, off))
		}
		if err != nil {
			ts.stopPos, ts.stopErr = pos, err
			return ts
		}
		if pos == int64(start.pos) {
			ts.atBatch = flags&flagBatchStart != 0
		}
		if pos-lastIdxPos >= int64(interval) {
			pending = append(pending, indexEntry{rel: uint32(off - s.base), pos: uint32(pos)})
			lastIdxPos = pos
		}
		off++
		if flags&flagBatchEnd != 0 {
			ts.end, ts.next, ts.complete = sc.pos, off, true
			ts.lastTS, ts.lastIndex = r.Timestamp, r.Index
			ts.entries = append(ts.entries, pending...)
			pending = pending[:0]
		}
	}
}

// openFiles opens a segment's data file (in use: the caller puts it back
// or releases the segment) and reads its index.
func openFiles(fsys vfs.FS, dir string, base uint64, files *FileCache, flag int) (*segment, vfs.File, int64, []byte, error) {
	s := newSegment(fsys, dir, base, files, flag)
	f, err := s.data.get()
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("segment: open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		s.release()
		return nil, nil, 0, nil, fmt.Errorf("segment: open: %w", err)
	}
	idx, err := vfs.ReadFile(fsys, s.idxPath)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		s.release()
		return nil, nil, 0, nil, fmt.Errorf("segment: open: %w", err)
	}
	return s, f, fi.Size(), idx, nil
}

// readFirst loads the first record's timestamp and index.
func (s *segment) readFirst(f io.ReaderAt) error {
	sc := scanner{f: f, end: s.size.Load(), chunk: 4096}
	r, _, _, err := sc.next()
	if err != nil {
		return s.corrupt(0, err)
	}
	if r.Offset != s.base {
		return s.corrupt(0, fmt.Errorf("frame has offset %d, want %d", r.Offset, s.base))
	}
	s.firstTS.Store(r.Timestamp)
	s.firstIndex.Store(r.Index)
	return nil
}

func openSealed(dir string, base, nextBase uint64, cfg Config) (*segment, error) {
	interval := cfg.IndexInterval
	s, f, size, idx, err := openFiles(cfg.FS, dir, base, cfg.Files, os.O_RDONLY)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		s.release()
		return nil, err
	}
	if size == 0 || nextBase <= base {
		return fail(s.corrupt(0, errors.New("sealed segment is empty")))
	}
	entries, ok := parseIndex(idx, size)
	if ok && len(entries) > 0 && uint64(entries[len(entries)-1].rel) >= nextBase-base {
		ok = false
	}
	start := indexEntry{}
	if ok && len(entries) > 0 {
		start = entries[len(entries)-1]
	} else {
		entries = nil
	}
	ts := scanFrom(s, f, size, start, interval)
	if !errors.Is(ts.stopErr, io.EOF) || ts.end != size {
		// A sealed segment was fully synced before the next was created, so
		// any damage here is real corruption (or a stale index: rebuild it
		// from the start before blaming the data).
		if ok && start.pos != 0 {
			ts = scanFrom(s, f, size, indexEntry{}, interval)
			entries, ok = nil, false
		}
		if !errors.Is(ts.stopErr, io.EOF) || ts.end != size {
			reason := "incomplete final batch"
			if !errors.Is(ts.stopErr, io.EOF) {
				reason = ts.stopErr.Error()
			}
			return fail(s.corrupt(ts.stopPos, errors.New(reason)))
		}
	}
	if ts.next != nextBase {
		return fail(s.corrupt(size, fmt.Errorf("segment ends at offset %d but the next starts at %d", ts.next, nextBase)))
	}
	entries = append(entries, ts.entries...)
	if !ok {
		if err := vfs.WriteFile(cfg.FS, s.idxPath, encodeIndex(entries)); err != nil {
			return fail(fmt.Errorf("segment: open: rebuild index: %w", err))
		}
	}
	s.index = entries
	s.size.Store(size)
	s.next.Store(nextBase)
	s.lastTS.Store(ts.lastTS)
	s.lastIndex.Store(ts.lastIndex)
	s.synced.Store(size)
	if err := s.readFirst(f); err != nil {
		return fail(err)
	}
	s.data.put()
	return s, nil
}

func openActive(dir string, base uint64, cfg Config, clean bool) (*segment, error) {
	interval := cfg.IndexInterval
	s, f, size, idx, err := openFiles(cfg.FS, dir, base, cfg.Files, os.O_RDWR)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*segment, error) {
		s.release()
		return nil, err
	}
	entries, ok := parseIndex(idx, size)
	if !ok || !clean {
		entries = nil
	}
	var ts tailScan
	for {
		start := indexEntry{}
		if len(entries) > 0 {
			start = entries[len(entries)-1]
		}
		ts = scanFrom(s, f, size, start, interval)
		if start.pos == 0 || ts.complete && ts.atBatch {
			break
		}
		// The entry is damaged, or points inside a batch whose earlier
		// frames must be verified too, or its batch is torn: step back.
		entries = entries[:len(entries)-1]
	}
	if !ts.complete {
		if len(entries) > 0 {
			start := entries[len(entries)-1]
			ts.end, ts.next = int64(start.pos), base+uint64(start.rel)
		} else {
			ts.end, ts.next = 0, base
		}
	}
	// entries now ends at an entry whose batch is complete (or is empty).
	entries = append(entries, ts.entries...)
	if ts.end < size {
		if err := f.Truncate(ts.end); err != nil {
			return fail(fmt.Errorf("segment: open: cut torn tail: %w", err))
		}
		if err := datasync(f); err != nil {
			return fail(fmt.Errorf("segment: open: %w", err))
		}
	}
	s.index = entries
	s.size.Store(ts.end)
	s.next.Store(ts.next)
	if n := len(entries); n > 0 {
		s.lastIdxPos = int64(entries[n-1].pos)
	}
	if ts.end > 0 {
		if err := s.readFirst(f); err != nil {
			return fail(err)
		}
		if ts.complete {
			s.lastTS.Store(ts.lastTS)
			s.lastIndex.Store(ts.lastIndex)
		} else if err := s.loadLast(); err != nil {
			return fail(err)
		}
	}
	if err := writeIndex(cfg.FS, s.idxPath, idx, encodeIndex(entries)); err != nil {
		return fail(fmt.Errorf("segment: open: write index: %w", err))
	}
	if clean {
		s.synced.Store(ts.end) // Close synced it all
	}
	s.idx = cfg.Files.handle(cfg.FS, s.idxPath, os.O_RDWR)
	s.data.put()
	return s, nil
}

// writeIndex makes path hold b. When it already does (old, its contents
// read at open, equals b: the usual case after a clean Close) it only
// fsyncs it: a node restarting on a full disk must not need free space to
// open its segments (storage's doc, "Disk full").
func writeIndex(fsys vfs.FS, path string, old, b []byte) error {
	if old != nil && bytes.Equal(old, b) {
		return vfs.Sync(fsys, path)
	}
	err := vfs.WriteFile(fsys, path, b)
	if err != nil && noSpace(err) && len(old) > len(b) && bytes.HasPrefix(old, b) {
		// Entries past the data (a torn or refused append): cutting
		// them needs no space.
		if err := fsys.Truncate(path, int64(len(b))); err != nil {
			return err
		}
		return vfs.Sync(fsys, path)
	}
	return err
}

// loadLast finds the last record's timestamp and index by scanning.
func (s *segment) loadLast() error {
	_, _, prev, _, err := s.find(func(*Record) bool { return false })
	if err != nil {
		return err
	}
	s.lastTS.Store(prev.Timestamp)
	s.lastIndex.Store(prev.Index)
	return nil
}
