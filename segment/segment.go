package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

const (
	logSuffix = ".log"
	idxSuffix = ".idx"
	tmpSuffix = ".tmp"
	// cleanMarker exists while the log is closed cleanly (everything synced).
	cleanMarker = "CLEAN"
)

// segment is one .log file and its sparse .idx.
//
// Published state is written by the single appender (under Log.mu) and read
// by readers without locks: the appender stores size before next, and readers
// load next before size, so size covers every offset below next.
type segment struct {
	base    uint64
	path    string
	idxPath string
	data    *handle // the .log file, opened on demand through the FileCache

	// refs counts the owning Log (1) plus readers; the handles are closed
	// when it drops to zero. A handle is retired (never reopened by path)
	// before its file is removed or replaced, so a reader holding a ref
	// either uses the original descriptor or learns the file is gone
	// (errGone) and looks at the log again.
	refs atomic.Int32

	size       atomic.Int64
	next       atomic.Uint64
	firstTS    atomic.Int64
	lastTS     atomic.Int64
	firstIndex atomic.Uint64
	lastIndex  atomic.Uint64
	// synced is the size covered by the last successful Sync (-1: unknown),
	// so that syncing an idle log opens no file.
	synced atomic.Int64

	idxMu sync.RWMutex
	index []indexEntry

	// Appender-only state (guarded by Log.mu).
	idx        *handle // the .idx file while the segment is active
	lastIdxPos int64   // position of the last index entry, 0 if none
}

func segmentName(base uint64) string { return fmt.Sprintf("%020d", base) }

func parseSegmentName(name string) (uint64, bool) {
	stem, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(stem) != 20 {
		return 0, false
	}
	base, err := strconv.ParseUint(stem, 10, 64)
	return base, err == nil
}

func newSegment(fsys vfs.FS, dir string, base uint64, files *FileCache, flag int) *segment {
	name := filepath.Join(dir, segmentName(base))
	s := &segment{base: base, path: name + logSuffix, idxPath: name + idxSuffix}
	s.data = files.handle(fsys, s.path, flag)
	s.refs.Store(1)
	s.next.Store(base)
	s.synced.Store(-1)
	return s
}

// createSegment makes a new empty active segment (both files). The files
// are created and closed: they are opened again on first use.
func createSegment(fsys vfs.FS, dir string, base uint64, files *FileCache) (*segment, error) {
	s := newSegment(fsys, dir, base, files, os.O_RDWR)
	for _, p := range []string{s.path, s.idxPath} {
		f, err := fsys.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	s.idx = files.handle(fsys, s.idxPath, os.O_RDWR)
	s.synced.Store(0)
	return s, nil
}

func (s *segment) empty() bool { return s.next.Load() == s.base }

func (s *segment) acquire() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (s *segment) release() {
	if s.refs.Add(-1) == 0 {
		s.data.close()
		if s.idx != nil {
			s.idx.close()
		}
	}
}

// retire forbids reopening the segment's files; call it (under Log.mu)
// before removing or replacing them.
func (s *segment) retire() {
	s.data.retire()
	if s.idx != nil {
		s.idx.retire()
	}
}

func (s *segment) indexLookup(rel uint64) indexEntry {
	s.idxMu.RLock()
	defer s.idxMu.RUnlock()
	return lookup(s.index, rel)
}

func (s *segment) corrupt(pos int64, err error) *CorruptionError {
	return &CorruptionError{File: s.path, Position: pos, Reason: err.Error()}
}

// read appends records [from, next) of this segment to out, bounded by
// maxRecords and the byte budget; done reports that a bound was reached.
// end is the published size matching next.
func (s *segment) read(out []Record, from, next uint64, end int64, maxRecords int, budget *int, chunk int) ([]Record, bool, error) {
	f, err := s.data.get()
	if err != nil {
		return out, true, err
	}
	defer s.data.put()
	e := s.indexLookup(from - s.base)
	if n := next - s.base; n > 0 && maxRecords < int(min(n, 1<<20)) {
		// Small count limits need not read a whole chunk: estimate from the
		// average frame size (index interval covers records skipped).
		avg := int(end / int64(n))
		chunk = min(chunk, max(2*maxRecords*avg+int(from-s.base-uint64(e.rel))*avg, 4096))
	}
	sc := scanner{f: f, pos: int64(e.pos), end: end, chunk: chunk, fresh: true}
	for off := s.base + uint64(e.rel); off < next; off++ {
		if len(out) > 0 {
			// Stop before reading a frame that cannot fit the budget.
			if *budget < framePrefix+minBody {
				return out, true, nil
			}
			if n, ok := sc.peekLen(); ok && n > *budget {
				return out, true, nil
			}
			sc.chunk = min(chunk, max(*budget, 4096))
		}
		pos := sc.pos
		r, n, _, err := sc.next()
		if err != nil {
			return out, true, s.corrupt(pos, err)
		}
		if r.Offset != off {
			return out, true, s.corrupt(pos, fmt.Errorf("frame has offset %d, want %d", r.Offset, off))
		}
		if off < from {
			continue
		}
		if len(out) > 0 && n > *budget {
			return out, true, nil
		}
		out = append(out, r)
		*budget -= n
		if len(out) >= maxRecords {
			return out, true, nil
		}
	}
	return out, false, nil
}

// find scans from the start of the segment for the first record matching
// stop, returning its offset and position (next and size if none matches)
// along with the last record before it and that record's position.
func (s *segment) find(stop func(*Record) bool) (off uint64, pos int64, prev Record, prevPos int64, err error) {
	f, err := s.data.get()
	if err != nil {
		return 0, 0, prev, 0, err
	}
	defer s.data.put()
	next := s.next.Load()
	end := s.size.Load()
	sc := scanner{f: f, end: end, chunk: recoveryChunk}
	prevPos = -1
	for off = s.base; off < next; off++ {
		pos = sc.pos
		r, _, _, err := sc.next()
		if err != nil {
			return 0, 0, prev, 0, s.corrupt(pos, err)
		}
		if r.Offset != off {
			return 0, 0, prev, 0, s.corrupt(pos, fmt.Errorf("frame has offset %d, want %d", r.Offset, off))
		}
		if stop(&r) {
			return off, pos, prev, prevPos, nil
		}
		prev = Record{Offset: r.Offset, Index: r.Index, Timestamp: r.Timestamp}
		prevPos = pos
	}
	return next, end, prev, prevPos, nil
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	BaseOffset     uint64
	NextOffset     uint64
	Path           string
	Size           int64
	Sealed         bool
	FirstTimestamp int64 // of the first record (0 if empty)
	LastTimestamp  int64 // of the last record (0 if empty)
	FirstIndex     uint64
	LastIndex      uint64
}
