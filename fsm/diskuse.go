package fsm

import (
	"io/fs"
	"path/filepath"
)

// ResourceBytes is the size on disk of every resource's logs (stream
// partitions, queue and KV logs, under the resources directory of the
// layout in doc.go); deleted resources waiting in trash and snapshot
// staging are not counted. It walks the directory without the FSM's lock:
// files that come and go meanwhile (compaction, retention) count or not.
func (f *FSM) ResourceBytes() int64 {
	var n int64
	_ = filepath.WalkDir(filepath.Join(f.cfg.Dir, resourcesDir), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go (compaction, retention)
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
