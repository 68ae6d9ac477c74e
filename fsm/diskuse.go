package fsm

import (
	"path/filepath"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// ResourceBytes is the size on disk of every resource's logs (stream
// partitions, queue and KV logs, under the resources directory of the
// layout in doc.go); deleted resources waiting in trash and snapshot
// staging are not counted. It walks the directory without the FSM's lock:
// files that come and go meanwhile (compaction, retention) count or not.
func (f *FSM) ResourceBytes() int64 {
	return treeBytes(f.cfg.FS, filepath.Join(f.cfg.Dir, resourcesDir))
}

// treeBytes is the size of the regular files under dir on fsys; entries
// that vanish while it walks are skipped.
func treeBytes(fsys vfs.FS, dir string) int64 {
	ents, err := fsys.ReadDir(dir)
	if err != nil {
		return 0 // files come and go (compaction, retention)
	}
	var n int64
	for _, e := range ents {
		switch {
		case e.IsDir():
			n += treeBytes(fsys, filepath.Join(dir, e.Name()))
		case e.Type().IsRegular():
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
	}
	return n
}
