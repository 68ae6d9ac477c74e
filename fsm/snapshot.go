package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/internal/durable"
	"github.com/flowmesh/flowmesh/internal/snapdir"
	"github.com/flowmesh/flowmesh/internal/vfs"
	"github.com/flowmesh/flowmesh/segment"
)

// Snapshot implements raft.FSM. It flushes, then captures every log as hard
// links in a staging directory; raft calls it on the apply goroutine, so no
// entry is applied meanwhile.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.flushLocked(); err != nil {
		return nil, err
	}
	index := f.applied.Load()
	staging := filepath.Join(f.cfg.Dir, "staging", strconv.FormatUint(index, 10))
	fsys := f.cfg.FS
	if err := fsys.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	if err := fsys.MkdirAll(staging, 0o755); err != nil {
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	for _, path := range f.sortedPaths() {
		r := f.resources[path]
		logs, dirs := r.logs()
		for i, l := range logs {
			dst := filepath.Join(staging, resourcesDir, filepath.Base(r.dir), dirs[i])
			if err := fsys.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return nil, fmt.Errorf("fsm: snapshot: %w", err)
			}
			if err := l.Checkpoint(dst); err != nil {
				fsys.RemoveAll(staging)
				return nil, fmt.Errorf("fsm: snapshot %s: %w", path, err)
			}
		}
	}
	// checkpoint.pb is only ever replaced by rename, so a link keeps this version.
	if err := fsys.Link(filepath.Join(f.cfg.Dir, checkpointFile), filepath.Join(staging, checkpointFile)); err != nil {
		fsys.RemoveAll(staging)
		return nil, fmt.Errorf("fsm: snapshot: %w", err)
	}
	f.log.Info("snapshot captured", "index", index, "resources", len(f.resources))
	return &dirSnapshot{fs: fsys, dir: staging}, nil
}

// dirSnapshot is a captured snapshot: a directory of hard links on fs.
// Persist reads it through the OS (linkTree, snapdir), as Restore writes.
type dirSnapshot struct {
	fs  vfs.FS
	dir string
}

// Persist implements raft.FSMSnapshot. A sink that offers a directory gets
// hard links; any other sink gets the snapdir stream.
func (s *dirSnapshot) Persist(sink raft.SnapshotSink) error {
	var err error
	if ds, ok := sink.(interface{ Dir() string }); ok {
		err = linkTree(s.dir, ds.Dir())
	} else {
		err = snapdir.Write(sink, s.dir)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("fsm: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *dirSnapshot) Release() { s.fs.RemoveAll(s.dir) }

// linkTree hard-links every file under src into dst, keeping the layout.
func linkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		return os.Link(p, target)
	})
}

// Restore implements raft.FSM: it replaces the whole local state with the
// snapshot stream in rc, after verifying it in a temporary directory.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.cfg.Dir + ".restore"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if err := snapdir.Read(rc, tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if _, err := CheckSnapshotDir(tmp); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.flushMu.Lock()
	defer f.flushMu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeStores()
	old := f.cfg.Dir + ".old"
	if err := os.RemoveAll(old); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if err := os.Rename(f.cfg.Dir, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if err := os.Rename(tmp, f.cfg.Dir); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	if err := durable.Sync(filepath.Dir(f.cfg.Dir)); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	os.RemoveAll(old)
	if err := f.load(); err != nil {
		return fmt.Errorf("fsm: restore: %w", err)
	}
	f.log.Info("restored snapshot", "index", f.applied.Load(), "resources", len(f.resources))
	f.changes.signal()
	return nil
}

// StateHash is a digest of the logical state: resources, every retained
// stream record, every job, every key, each KV store's Watch history (its
// oldest watchable revision and events; not their stamps, which only the
// leader's planning reads) and the consumer offsets. Replicas that applied
// the same entries have the same hash.
func (f *FSM) StateHash() (string, error) {
	h, _, err := f.StateHashIndex()
	return h, err
}

// StateHashIndex is StateHash with the applied index it covers.
func (f *FSM) StateHashIndex() (string, uint64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	index := f.applied.Load()
	h := sha256.New()
	for _, path := range f.sortedPaths() {
		r := f.resources[path]
		m := r.meta
		writeStr(h, path)
		writeInts(h, int64(m.Kind), m.CreatedAt, int64(m.Revision), int64(m.Partitions), m.MaxAge, m.MaxBytes,
			m.VisibilityTimeout, int64(m.MaxAttempts), int64(m.MaxPayload), int64(m.HistoryRevisions))
		writeStr(h, m.DeadLetterQueue)
		switch {
		case r.stream != nil:
			for _, p := range r.stream.parts {
				from := max(p.earliest, p.log.EarliestOffset())
				writeInts(h, int64(from), int64(p.log.NextOffset()))
				err := forEachRecord(p.log, from, func(rec segment.Record) error {
					writeInts(h, int64(rec.Offset), int64(rec.Index), rec.Timestamp)
					h.Write(rec.Key)
					for _, hd := range rec.Headers {
						writeStr(h, hd.Key)
						writeStr(h, hd.Value)
					}
					h.Write(rec.Payload)
					return nil
				})
				if err != nil {
					return "", 0, err
				}
			}
		case r.queue != nil:
			writeInts(h, int64(r.queue.nextSeq))
			for _, id := range r.queue.sortedIDs() {
				j := r.queue.jobs[id]
				writeStr(h, j.id)
				writeInts(h, int64(j.seq), j.enqueuedAt, j.readyAt, j.visibleUntil, int64(j.attempt), int64(j.state))
				h.Write(j.payload)
			}
		case r.kv != nil:
			r.kv.tree.Ascend(func(it *kvItem) bool {
				writeStr(h, it.key)
				writeInts(h, int64(it.rev), int64(it.createRev), it.expiresAt)
				h.Write(it.value)
				return true
			})
			writeInts(h, int64(r.kv.oldest), int64(r.kv.history.len()))
			for i := 0; i < r.kv.history.len(); i++ {
				ev := r.kv.history.at(i)
				writeInts(h, int64(ev.Type), int64(ev.Revision))
				writeStr(h, ev.Key)
				writeInts(h, int64(len(ev.Value)))
				h.Write(ev.Value)
			}
		}
	}
	for _, k := range f.sortedGroups() {
		writeStr(h, k.path)
		writeStr(h, k.group)
		writeInts(h, int64(k.partition), int64(f.groups[k]))
	}
	writeInts(h, int64(f.kvRev))
	for _, t := range f.sortedQuotaTenants() {
		q := f.quotas[t]
		writeStr(h, t)
		for _, v := range []*int64{q.StoredBytes, q.Resources, q.Partitions, q.KvKeys, q.QueueJobs, q.MemoryBytes} {
			if v == nil {
				writeInts(h, -1)
			} else {
				writeInts(h, *v)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), index, nil
}

func writeStr(h hash.Hash, s string) {
	writeInts(h, int64(len(s)))
	io.WriteString(h, s)
}

func writeInts(h hash.Hash, vs ...int64) {
	var b [8]byte
	for _, v := range vs {
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		h.Write(b[:])
	}
}
