package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/internal/durable"
	"github.com/flowmesh/flowmesh/internal/snapdir"
)

const (
	metaFile    = "meta.json"
	dataDirName = "data"
	// DefaultSnapshotRetain is how many complete snapshots a store keeps.
	DefaultSnapshotRetain = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// DirSink is the optional capability of the sinks a SnapshotStore creates.
// An FSMSnapshot's Persist type-asserts it and, when present, hard-links its
// immutable files into Dir() instead of writing bytes; then it calls Close.
// Files placed in Dir() must never change afterwards.
type DirSink interface {
	raft.SnapshotSink
	Dir() string
}

// SnapshotStore is a raft.SnapshotStore that keeps each snapshot as a
// directory <dir>/<id>/ with data/ (the FSM's files) and meta.json (written
// last, atomically; a directory without it is incomplete). Open streams
// data/ in the snapdir format; a sink that receives bytes through Write
// decodes that format into data/ as they arrive.
type SnapshotStore struct {
	dir    string
	retain int
	logger *slog.Logger

	mu       sync.Mutex // serialises reaping and ID allocation
	lastID   string
	openRefs map[string]int // snapshots being streamed; not reaped meanwhile

	// Set by Cluster before raft starts; nil in a bare store.
	check     func(dataDir string) (uint64, error) // the FSM's SnapshotChecker
	logs      raft.LogStore                        // to prove a fallback loses nothing
	clusterID func() string                        // written into every snapshot
	durable   func() uint64                        // the FSM's DurableIndex

	listMu  sync.Mutex
	checked map[string]error // usability of each snapshot, checked once
	warned  map[string]bool  // fallbacks already logged
}

var _ raft.SnapshotStore = (*SnapshotStore)(nil)

// snapshotMetaFile is the on-disk form of meta.json. Append fields only.
type snapshotMetaFile struct {
	CRC  uint32          `json:"crc"`  // CRC32C of Body's bytes
	Body json.RawMessage `json:"body"` // snapshotMeta
}

type snapshotMeta struct {
	raft.SnapshotMeta
	// Files lists data/ as the snapshot was sealed; Open refuses to stream a
	// snapshot whose files no longer match (missing, resized, extra).
	Files []snapdir.File
	// Local is set on snapshots this node's FSM took from entries it applied
	// (not received as a stream from a leader or an upload): only those may
	// be skipped over at start-up, see List.
	Local bool `json:"local,omitempty"`
}

// NewSnapshotStore opens (creating if needed) a snapshot store in dir,
// keeping retain complete snapshots (DefaultSnapshotRetain if retain < 1).
// Incomplete snapshots left by a crash are removed.
func NewSnapshotStore(dir string, retain int, logger *slog.Logger) (*SnapshotStore, error) {
	if retain < 1 {
		retain = DefaultSnapshotRetain
	}
	if logger == nil {
		logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: snapshot dir: %w", err)
	}
	s := &SnapshotStore{dir: dir, retain: retain, logger: logger, openRefs: map[string]int{},
		checked: map[string]error{}, warned: map[string]bool{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	removed := false
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), metaFile)); errors.Is(err, os.ErrNotExist) {
			logger.Warn("removing incomplete snapshot", "id", e.Name())
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, err
			}
			removed = true
		}
	}
	if removed {
		if err := durable.Sync(dir); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Create starts a snapshot. The sink is a DirSink.
func (s *SnapshotStore) Create(version raft.SnapshotVersion, index, term uint64,
	configuration raft.Configuration, configurationIndex uint64, _ raft.Transport) (raft.SnapshotSink, error) {
	if version != 1 {
		return nil, fmt.Errorf("cluster: unsupported snapshot version %d", version)
	}
	id := s.newID(term, index)
	dir := filepath.Join(s.dir, id)
	data := filepath.Join(dir, dataDirName)
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	return &snapshotSink{
		store:   s,
		dir:     dir,
		dataDir: data,
		meta: raft.SnapshotMeta{
			Version:            version,
			ID:                 id,
			Index:              index,
			Term:               term,
			Configuration:      configuration,
			ConfigurationIndex: configurationIndex,
		},
	}, nil
}

// newID names snapshots like raft's file store, term-index-millis, with a
// suffix when two would collide.
func (s *SnapshotStore) newID(term, index uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := fmt.Sprintf("%d-%d-%d", term, index, time.Now().UnixMilli())
	id := base
	for n := 1; ; n++ {
		if _, err := os.Lstat(filepath.Join(s.dir, id)); errors.Is(err, os.ErrNotExist) && id != s.lastID {
			break
		}
		id = fmt.Sprintf("%s-%d", base, n)
	}
	s.lastID = id
	return id
}

// List returns the snapshot raft should start from, the newest usable one,
// or none. See listUsable.
func (s *SnapshotStore) List() ([]*raft.SnapshotMeta, error) {
	m, err := s.listUsable()
	if err != nil || m == nil {
		return nil, err
	}
	return []*raft.SnapshotMeta{&m.SnapshotMeta}, nil
}

// badSnapshot is a complete snapshot whose meta.json cannot be used.
type badSnapshot struct {
	id          string
	term, index uint64 // from the ID; 0 when it does not parse
	err         error
}

func newer(term, index, thanTerm, thanIndex uint64) bool {
	return term > thanTerm || (term == thanTerm && index > thanIndex)
}

// list returns the readable complete snapshots, newest first (by term,
// index, ID), and the unreadable ones.
func (s *SnapshotStore) list() ([]*snapshotMeta, []badSnapshot, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, nil, err
	}
	var metas []*snapshotMeta
	var bad []badSnapshot
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m, err := s.readMeta(e.Name())
		if errors.Is(err, os.ErrNotExist) {
			continue // in progress, or left by a crash
		}
		if err != nil {
			s.logger.Warn("unreadable snapshot", "id", e.Name(), "error", err)
			b := badSnapshot{id: e.Name(), err: err}
			fmt.Sscanf(e.Name(), "%d-%d-", &b.term, &b.index)
			bad = append(bad, b)
			continue
		}
		metas = append(metas, m)
	}
	slices.SortFunc(metas, func(a, b *snapshotMeta) int {
		switch {
		case a.Term != b.Term:
			return cmpDesc(a.Term, b.Term)
		case a.Index != b.Index:
			return cmpDesc(a.Index, b.Index)
		}
		return -strings.Compare(a.ID, b.ID)
	})
	return metas, bad, nil
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}

func (s *SnapshotStore) readMeta(id string) (*snapshotMeta, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, id, metaFile))
	if err != nil {
		return nil, err
	}
	var f snapshotMetaFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("cluster: snapshot %s meta: %v", id, err)
	}
	if got := crc32.Checksum(f.Body, castagnoli); got != f.CRC {
		return nil, fmt.Errorf("cluster: snapshot %s meta crc %08x, want %08x", id, got, f.CRC)
	}
	var m snapshotMeta
	if err := json.Unmarshal(f.Body, &m); err != nil {
		return nil, fmt.Errorf("cluster: snapshot %s meta: %v", id, err)
	}
	if m.ID != id {
		return nil, fmt.Errorf("cluster: snapshot %s meta names %s", id, m.ID)
	}
	if m.Version < raft.SnapshotVersionMin || m.Version > raft.SnapshotVersionMax {
		return nil, fmt.Errorf("cluster: snapshot %s version %d unsupported", id, m.Version)
	}
	return &m, nil
}

// Open streams snapshot id's data/ in the snapdir format. It first checks the
// files against the manifest sealed in meta.json; the stream's per-file and
// trailer CRCs let the reader verify every byte.
func (s *SnapshotStore) Open(id string) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if !validID(id) {
		return nil, nil, fmt.Errorf("cluster: bad snapshot id %q", id)
	}
	m, err := s.readMeta(id)
	if err != nil {
		return nil, nil, err
	}
	data := filepath.Join(s.dir, id, dataDirName)
	files, err := snapdir.List(data)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Equal(files, m.Files) {
		return nil, nil, fmt.Errorf("cluster: snapshot %s: files no longer match its manifest", id)
	}
	s.ref(id, 1)
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(snapdir.Write(pw, data))
	}()
	return &m.SnapshotMeta, &snapshotReader{PipeReader: pr, done: done, release: func() { s.ref(id, -1) }}, nil
}

func validID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}

func (s *SnapshotStore) ref(id string, d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openRefs[id] += d
	if s.openRefs[id] <= 0 {
		delete(s.openRefs, id)
	}
}

// snapshotReader ends the streaming goroutine on Close and waits for it.
type snapshotReader struct {
	*io.PipeReader
	done    chan struct{}
	release func()
	once    sync.Once
}

func (r *snapshotReader) Close() error {
	r.once.Do(func() {
		r.PipeReader.Close()
		<-r.done
		r.release()
	})
	return nil
}

// reap removes complete snapshots beyond retain, oldest first, and
// unreadable ones older than the newest readable one, skipping any being
// streamed.
func (s *SnapshotStore) reap() error {
	metas, bad, err := s.list()
	if err != nil {
		return err
	}
	var ids []string
	for _, m := range metas[min(s.retain, len(metas)):] {
		ids = append(ids, m.ID)
	}
	for _, b := range bad {
		if len(metas) > 0 && !newer(b.term, b.index, metas[0].Term, metas[0].Index) {
			ids = append(ids, b.id)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, id := range ids {
		if s.openRefs[id] > 0 {
			continue
		}
		s.logger.Info("reaping snapshot", "id", id)
		// Remove meta.json first so a crash mid-removal leaves an incomplete
		// snapshot, which the next open deletes.
		if err := os.Remove(filepath.Join(s.dir, id, metaFile)); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.RemoveAll(filepath.Join(s.dir, id)))
	}
	return errors.Join(errs...)
}

// snapshotSink receives a snapshot either as files placed in Dir() or as a
// snapdir stream through Write, never both.
type snapshotSink struct {
	store   *SnapshotStore
	dir     string
	dataDir string
	meta    raft.SnapshotMeta

	mu       sync.Mutex
	pw       *io.PipeWriter // set by the first Write
	decoded  chan error     // snapdir.Read's result
	written  int64
	finished bool
}

var _ DirSink = (*snapshotSink)(nil)

func (k *snapshotSink) ID() string  { return k.meta.ID }
func (k *snapshotSink) Dir() string { return k.dataDir }

// Write feeds the snapdir stream to a decoder writing into Dir().
func (k *snapshotSink) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.finished {
		return 0, errors.New("cluster: write to a closed snapshot sink")
	}
	if k.pw == nil {
		pr, pw := io.Pipe()
		k.pw = pw
		k.decoded = make(chan error, 1)
		go func() {
			err := snapdir.Read(pr, k.dataDir)
			if err == nil {
				err = errStreamDone
			}
			// Unblocks Write once the decoder stops, with its error (or, after
			// a complete stream, an error for any extra byte).
			pr.CloseWithError(err)
			k.decoded <- err
		}()
	}
	n, err := k.pw.Write(p)
	k.written += int64(n)
	return n, err
}

// Close seals the snapshot: it waits for a stream decoder to verify its
// trailer, fsyncs data/ (files placed through Dir() included), writes
// meta.json atomically and reaps old snapshots.
func (k *snapshotSink) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.finished {
		return nil
	}
	k.finished = true
	if err := k.seal(); err != nil {
		k.store.logger.Error("snapshot failed", "id", k.meta.ID, "error", err)
		_ = os.RemoveAll(k.dir)
		return err
	}
	if err := k.store.reap(); err != nil {
		k.store.logger.Warn("reaping snapshots", "error", err)
	}
	return nil
}

func (k *snapshotSink) seal() error {
	streamed := k.pw != nil
	if streamed {
		k.pw.Close()
		if err := <-k.decoded; err != errStreamDone {
			return err
		}
	}
	files, err := snapdir.List(k.dataDir)
	if err != nil {
		return err
	}
	if streamed && k.written != snapdir.StreamSize(files) {
		return fmt.Errorf("cluster: snapshot stream was %d bytes, decoded to %d", k.written, snapdir.StreamSize(files))
	}
	if k.store.clusterID != nil {
		// A snapshot carries the ID of the cluster that holds it; a stream
		// from elsewhere (a forced restore) now belongs to this cluster.
		if id := k.store.clusterID(); id != "" {
			if err := writeSnapshotClusterID(k.dataDir, id); err != nil {
				return err
			}
			if files, err = snapdir.List(k.dataDir); err != nil {
				return err
			}
		}
	}
	if !streamed {
		// Files linked or written through Dir(): make them and their
		// directories durable. The decoder already did this for a stream.
		if err := syncTree(k.dataDir, files); err != nil {
			return err
		}
	}
	m := snapshotMeta{SnapshotMeta: k.meta, Files: files, Local: !streamed}
	m.Size = snapdir.StreamSize(files)
	if files == nil {
		m.Files = []snapdir.File{}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b, err := json.Marshal(snapshotMetaFile{CRC: crc32.Checksum(body, castagnoli), Body: body})
	if err != nil {
		return err
	}
	if err := durable.WriteFile(filepath.Join(k.dir, metaFile), b); err != nil {
		return err
	}
	return durable.Sync(k.store.dir)
}

// errStreamDone is what a sink's decoder reports after a complete, verified
// stream; any byte written after it fails with this error.
var errStreamDone = errors.New("cluster: snapshot stream already complete")

// Cancel abandons the snapshot and removes its directory.
func (k *snapshotSink) Cancel() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.finished {
		return nil
	}
	k.finished = true
	if k.pw != nil {
		k.pw.CloseWithError(errors.New("cluster: snapshot canceled"))
		<-k.decoded
	}
	return os.RemoveAll(k.dir)
}

// syncTree fsyncs the files and every directory under root.
func syncTree(root string, files []snapdir.File) error {
	dirs := map[string]bool{".": true}
	for _, f := range files {
		if err := durable.Sync(filepath.Join(root, filepath.FromSlash(f.Path))); err != nil {
			return err
		}
		for d := filepath.Dir(filepath.FromSlash(f.Path)); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		if err := durable.Sync(filepath.Join(root, d)); err != nil {
			return err
		}
	}
	return durable.Sync(filepath.Dir(root))
}
