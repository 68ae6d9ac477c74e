package cluster

import (
	"errors"
	"fmt"
	"github.com/hashicorp/go-hclog"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
	walsegment "github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
)

// Log stores. raft-wal (LogStoreWAL) is the default for new data dirs
// (DefaultLogStore): it appends into preallocated segment files with one
// fsync per StoreLogs where bolt (LogStoreBolt: boltStore, in
// raft-boltdb's file layout) needs two (data pages, then the meta page),
// and halves each node's log write time (BENCHMARKS.md, "issue 14").
// raft-wal v0.4.0, the newest the module proxy serves here, needs the
// workarounds listed in doc.go; the one that kept it opt-in for a while
// is repairTruncatedSegments (a segment sealed by a tail truncation has no
// index block, and the node panicked on every restart,
// hashicorp/raft-wal#31). A data dir keeps the store it was made with:
// what is on disk decides when no store is named. ConvertLogStore moves a
// stopped node's dir from one to the other.
//
// With raft-wal, the stable store (CurrentTerm, LastVoteTerm,
// LastVoteCand) is raft-wal's own meta database (wal/wal-meta.db, bbolt,
// fsynced on every write), the same file that lists its segments.
const (
	LogStoreBolt = "boltdb"
	LogStoreWAL  = "wal"

	// DefaultLogStore is the store a new data dir gets when none is named.
	DefaultLogStore = LogStoreWAL
)

const (
	boltFileName = "raft.db"
	walDirName   = "wal"
)

// stableLogStore is raft's log and stable store in one.
type stableLogStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// DetectLogStore reports which log store raftDir (DataDir/raft) holds:
// LogStoreBolt, LogStoreWAL, or "" when it holds neither (a new dir).
func DetectLogStore(raftDir string) (string, error) {
	bolt := exists(filepath.Join(raftDir, boltFileName))
	wal := exists(filepath.Join(raftDir, walDirName))
	switch {
	case bolt && wal:
		return "", fmt.Errorf("cluster: %s holds both a bolt raft log (%s) and a raft-wal log (%s/): remove the one that is not in use (an interrupted convert-log-store leaves its backup under another name, never these)", raftDir, boltFileName, walDirName)
	case bolt:
		return LogStoreBolt, nil
	case wal:
		return LogStoreWAL, nil
	}
	return "", nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// openLogStore opens the store under dir (DataDir/raft): bolt in raft.db,
// the WAL in wal/. kind "" means the store on disk, or LogStoreWAL for a
// new dir; a kind that disagrees with what is on disk is an error.
func openLogStore(dir, kind string) (stableLogStore, error) {
	return openLogStoreVFS(dir, kind, newWALVFS(), nil)
}

// openLogStoreVFS is openLogStore with the file system raft-wal writes its
// segment files through (tests put a power-cut model there) and the logger
// raft-wal writes its lines to (nil: hclog's default, stderr).
func openLogStoreVFS(dir, kind string, vfs waltypes.VFS, log hclog.Logger) (stableLogStore, error) {
	if kind != "" && kind != LogStoreBolt && kind != LogStoreWAL {
		return nil, fmt.Errorf("cluster: unknown log store %q (want %q or %q)", kind, LogStoreBolt, LogStoreWAL)
	}
	onDisk, err := DetectLogStore(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case onDisk == LogStoreWAL && kind == LogStoreBolt:
		return nil, fmt.Errorf("cluster: %s holds a raft-wal log; start with the %q log store (or none), or convert it (flowmesh-node convert-log-store)", dir, LogStoreWAL)
	case onDisk == LogStoreBolt && kind == LogStoreWAL:
		return nil, fmt.Errorf("cluster: %s holds a bolt raft log (%s); start with the %q log store (or none), or convert it (flowmesh-node convert-log-store)", dir, boltFileName, LogStoreBolt)
	}
	if kind == "" {
		kind = onDisk
	}
	if kind == "" {
		kind = DefaultLogStore
	}
	if kind == LogStoreBolt {
		bolt, err := openBoltStore(filepath.Join(dir, boltFileName))
		if err != nil {
			return nil, fmt.Errorf("cluster: open %s: %w", boltFileName, err)
		}
		return bolt, nil
	}
	return openWALStore(filepath.Join(dir, walDirName), vfs, log)
}

// walStore is raft-wal with a checksum on every entry and a Close that
// closes its meta database too (raft-wal v0.4.0's Close leaves it open,
// and its file lock then blocks a reopen in the same process).
//
// raft-wal checks a CRC over each append batch only when it recovers the
// last one after a crash; it trusts earlier committed bytes ("previously
// committed data is not silently corrupted", its README). A custom codec
// cannot add a check in v0.4.0 (new segments are always written with its
// built-in codec ID, so a store with another codec does not reopen), so
// walStore keeps a CRC-32C of each entry in raft.Log.Extensions, which
// raft passes through and FlowMesh does not otherwise use: 4 bytes of
// magic, 4 of checksum, then the entry's own Extensions. GetLog strips it
// and returns an error, never the entry, on a mismatch. Entries from
// before the checksums (wal dirs made by older builds) carry none; the
// stable key walSumsFromKey holds the first index that must carry one, so
// a flip in the magic cannot pass an entry off as an old one.
type walStore struct {
	*raftwal.WAL
	meta     *metadb.BoltMetaDB
	lock     *os.File // lockWALDir's
	sumsFrom uint64
	roll     *rollWait
	closing  chan struct{} // closed by Close
	closed   sync.Once
}

var _ stableLogStore = (*walStore)(nil)

// WALSegmentSize is the size of raft-wal's segment files, each
// preallocated whole when it is created (raft-wal's own default is 64
// MiB). A new store creates its first one at once, and a full segment
// needs the next before the log can grow: 8 MiB keeps what a node needs
// free to start or roll well under the disk reserve (storage's doc, "Disk
// full"), and rolls (one bbolt commit each) stay rare: 8 MiB is some
// 30,000 entries of 256 bytes. An entry larger than a segment still fits:
// raft-wal lets the file grow past its preallocation and rolls after it.
const WALSegmentSize = 8 << 20

// walSegmentSize overrides WALSegmentSize when > 0;
// tests set it to make segments roll.
var walSegmentSize int

// walSumsFromKey is the stable-store key holding walStore.sumsFrom.
var walSumsFromKey = []byte("FlowMeshEntrySumsFrom")

func openWALStore(wdir string, vfs waltypes.VFS, log hclog.Logger) (*walStore, error) {
	if err := os.MkdirAll(wdir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	lock, err := lockWALDir(wdir)
	if err != nil {
		return nil, fmt.Errorf("cluster: open raft-wal: %w", err)
	}
	size := WALSegmentSize
	if walSegmentSize > 0 {
		size = walSegmentSize
	}
	if log == nil {
		log = hclog.Default()
	}
	if err := repairWAL(wdir, vfs, size, log); err != nil {
		closeLock(lock)
		return nil, fmt.Errorf("cluster: open raft-wal in %s: %w", wdir, err)
	}
	meta := &metadb.BoltMetaDB{}
	roll := &rollWait{}
	w, err := raftwal.Open(wdir, raftwal.WithMetaStore(meta), raftwal.WithSegmentFiler(sealFiler{walsegment.NewFiler(wdir, vfs), roll}), raftwal.WithSegmentSize(size), raftwal.WithLogger(log))
	if err != nil {
		meta.Close()
		closeLock(lock)
		return nil, fmt.Errorf("cluster: open raft-wal in %s: %w", wdir, err)
	}
	s := &walStore{WAL: w, meta: meta, lock: lock, roll: roll, closing: make(chan struct{})}
	if s.sumsFrom, err = w.GetUint64(walSumsFromKey); err == nil && s.sumsFrom == 0 {
		var last uint64
		if last, err = w.LastIndex(); err == nil {
			s.sumsFrom = last + 1
			err = w.SetUint64(walSumsFromKey, s.sumsFrom)
		}
	}
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("cluster: open raft-wal in %s: entry checksums: %w", wdir, err)
	}
	return s, nil
}

func (w *walStore) Close() error {
	w.closed.Do(func() { close(w.closing) })
	err := w.WAL.Close()
	if cerr := w.meta.Close(); err == nil {
		err = cerr
	}
	closeLock(w.lock)
	return err
}

func closeLock(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// StoreLog stores one entry (with its checksum).
func (w *walStore) StoreLog(l *raft.Log) error { return w.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores logs, each with its checksum. raft's own Log values are
// not touched (its log cache keeps them): the store gets shallow copies.
func (w *walStore) StoreLogs(logs []*raft.Log) error {
	cp := make([]raft.Log, len(logs))
	ptrs := make([]*raft.Log, len(logs))
	for i, l := range logs {
		cp[i] = *l
		cp[i].Extensions = sealEntry(l)
		ptrs[i] = &cp[i]
	}
	return w.WAL.StoreLogs(ptrs)
}

// GetLog reads entry idx and checks its checksum. An entry before
// FirstIndex is not found: raft-wal v0.4.0 deletes the head of the log
// (DeleteRange after a snapshot) by moving the first segment's MinIndex,
// but its GetLog reads the tail segment first and still serves entries
// below MinIndex that are in it. raft takes ErrLogNotFound for "compacted,
// send a snapshot instead"; a deleted entry served instead could be one
// that InstallSnapshot discarded because it diverged from the leader's
// log (TestWALDeletedHeadIsNotServed; TestFollowerInstallsSnapshot saw
// the leader replay its deleted head instead of sending the snapshot).
func (w *walStore) GetLog(idx uint64, l *raft.Log) error {
	first, err := w.WAL.FirstIndex()
	if err != nil {
		return err
	}
	if idx < first {
		return raft.ErrLogNotFound
	}
	if err := w.WAL.GetLog(idx, l); err != nil {
		return err
	}
	if err := openEntry(l, idx >= w.sumsFrom); err != nil {
		return err
	}
	if l.Index != idx { // a sound entry from the wrong place (a damaged segment index)
		return fmt.Errorf("cluster: raft-wal returned entry %d for %d: %w", l.Index, idx, errEntryChecksum)
	}
	return nil
}

// DeleteRange deletes entries min..max (a head or a tail of the log)
// once no segment roll is pending (rollWait says why).
func (w *walStore) DeleteRange(min, max uint64) error {
	if err := w.roll.wait(w.closing); err != nil {
		return err
	}
	return w.WAL.DeleteRange(min, max)
}

// errEntryChecksum is what GetLog returns for an entry whose bytes changed
// on disk.
var errEntryChecksum = errors.New("raft log entry fails its checksum (corrupt on disk)")

// repairSealedTail finishes a segment roll that a crash interrupted.
// raft-wal v0.4.0 seals a full segment by committing (fsynced) an index
// frame in the same append, then rolls to the next segment in the
// background: a meta database commit marks the old one sealed and lists
// the new one. A crash between the two leaves a tail that its meta says is
// open but whose file says is sealed; raft-wal's Open recovers it as the
// tail, and every append after that fails with "segment is sealed"
// (TestWALSIGKILLLoop found it). So before Open, if the open tail's file
// is sealed, this makes in st what the roll would have committed: the
// tail sealed (its index start, last index, seal time) and a new, empty
// tail after it, whose file raft-wal's Open creates (it handles a listed
// segment without a file). It reports whether it changed st; repairWAL
// commits it.
func repairSealedTail(wdir string, vfs waltypes.VFS, size int, st *waltypes.PersistentState) (bool, error) {
	if len(st.Segments) == 0 {
		return false, nil
	}
	tail := st.Segments[len(st.Segments)-1]
	if !tail.SealTime.IsZero() {
		return false, nil
	}
	w, err := walsegment.NewFiler(wdir, vfs).RecoverTail(tail)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // raft-wal's Open creates it
	}
	if err != nil {
		return false, fmt.Errorf("check the tail segment: %w", err)
	}
	sealed, indexStart, err := w.Sealed()
	last := w.LastIndex()
	w.Close()
	if err != nil || !sealed {
		return false, err
	}
	now := time.Now()
	tail.SealTime = now
	tail.MaxIndex = last
	tail.IndexStart = indexStart
	st.Segments[len(st.Segments)-1] = tail
	st.Segments = append(st.Segments, waltypes.SegmentInfo{
		ID:         st.NextSegmentID,
		BaseIndex:  last + 1,
		MinIndex:   last + 1,
		SizeLimit:  uint32(size),
		Codec:      raftwal.CodecBinaryV1,
		CreateTime: now,
	})
	st.NextSegmentID++
	return true, nil
}

// walRollsRepaired counts repairSealedTail's repairs (for tests).
var walRollsRepaired atomic.Int64
