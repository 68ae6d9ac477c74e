package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/raft-wal/types"
)

// powerCutVFS is raft-wal's file system with a model of a power cut, for
// tests and for the lose-unsynced crash of the fault harness
// (walvfs_faults.go): it remembers, per segment file, what every write
// since the file's last successful fsync overwrote, and cut puts those
// bytes (and the file's length) back, newest write first, so each file
// holds exactly what it held at its last fsync. It needs no knowledge of
// raft-wal's format. The meta database (wal-meta.db) is bbolt and does not
// go through it: each of its commits is fsynced before it returns.
//
// skipSync is a failpoint: Sync returns success without syncing, so
// nothing written becomes durable (a test that survives it cannot fail).
type powerCutVFS struct {
	types.VFS

	mu       sync.Mutex
	files    map[string]*pcFile // by path
	cutDone  bool
	skipSync bool
	// beforeSync, when set, runs under mu before each fsync (tests cut
	// the power there: the write is in the page cache, not on disk).
	beforeSync func()
}

type pcFile struct {
	undo []pcUndo // writes since the last fsync, oldest first
}

type pcUndo struct {
	off     int64
	old     []byte // the bytes the write replaced (up to the old length)
	oldSize int64  // the file's length before the write
}

// errPowerCut is what writes get once cut has run.
var errPowerCut = errors.New("raft-wal file system: simulated power cut")

func newPowerCutVFS(base types.VFS) *powerCutVFS {
	return &powerCutVFS{VFS: base, files: map[string]*pcFile{}}
}

func (v *powerCutVFS) setSkipSync(on bool) {
	v.mu.Lock()
	v.skipSync = on
	v.mu.Unlock()
}

func (v *powerCutVFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	f, err := v.VFS.Create(dir, name, size)
	if err != nil {
		return nil, err
	}
	return v.track(filepath.Join(dir, name), f), nil
}

func (v *powerCutVFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := v.VFS.OpenWriter(dir, name)
	if err != nil {
		return nil, err
	}
	return v.track(filepath.Join(dir, name), f), nil
}

func (v *powerCutVFS) Delete(dir, name string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.cutDone {
		return errPowerCut
	}
	if err := v.VFS.Delete(dir, name); err != nil {
		return err
	}
	delete(v.files, filepath.Join(dir, name))
	return nil
}

func (v *powerCutVFS) track(path string, f types.WritableFile) types.WritableFile {
	v.mu.Lock()
	defer v.mu.Unlock()
	pf := v.files[path]
	if pf == nil {
		pf = &pcFile{}
		v.files[path] = pf
	}
	return &pcWritable{WritableFile: f, v: v, pf: pf}
}

type pcWritable struct {
	types.WritableFile
	v  *powerCutVFS
	pf *pcFile
}

// statter is the part of *os.File (under raft-wal's fs.File) the model
// needs to know a file's length.
type statter interface{ Stat() (os.FileInfo, error) }

func fileSize(f types.WritableFile) (int64, error) {
	st, ok := f.(statter)
	if !ok {
		return 0, fmt.Errorf("%T has no Stat", f)
	}
	fi, err := st.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (w *pcWritable) WriteAt(p []byte, off int64) (int, error) {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	if w.v.cutDone {
		return 0, errPowerCut
	}
	sz, err := fileSize(w.WritableFile)
	if err != nil {
		return 0, fmt.Errorf("power-cut model: %w", err)
	}
	u := pcUndo{off: off, oldSize: sz}
	if off < sz {
		u.old = make([]byte, min(int64(len(p)), sz-off))
		if _, err := w.WritableFile.ReadAt(u.old, off); err != nil && err != io.EOF {
			return 0, fmt.Errorf("power-cut model: %w", err)
		}
	}
	w.pf.undo = append(w.pf.undo, u)
	return w.WritableFile.WriteAt(p, off)
}

func (w *pcWritable) Sync() error {
	w.v.mu.Lock()
	defer w.v.mu.Unlock()
	if w.v.cutDone {
		return errPowerCut
	}
	if w.v.beforeSync != nil {
		w.v.beforeSync()
		if w.v.cutDone {
			return errPowerCut
		}
	}
	if w.v.skipSync {
		return nil
	}
	if err := w.WritableFile.Sync(); err != nil {
		return err
	}
	w.pf.undo = nil
	return nil
}

// cut simulates the power cut: every tracked file loses what was written
// since its last fsync, and every later write or sync fails. It reports
// what it undid.
func (v *powerCutVFS) cut() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.cutLocked()
}

// cutLocked is cut with v.mu held.
func (v *powerCutVFS) cutLocked() string {
	v.cutDone = true
	var files, writes int
	var bytes int64
	var errs []string
	for path, pf := range v.files {
		if len(pf.undo) == 0 {
			continue
		}
		if err := undoFile(path, pf.undo); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		files++
		writes += len(pf.undo)
		for _, u := range pf.undo {
			bytes += int64(len(u.old))
		}
		pf.undo = nil
	}
	out := fmt.Sprintf("undid %d unsynced writes in %d of %d raft-wal segment files", writes, files, len(v.files))
	if len(errs) > 0 {
		out += fmt.Sprintf("; errors: %v", errs)
	}
	return out
}
