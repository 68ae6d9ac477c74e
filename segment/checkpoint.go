package segment

import (
	"fmt"
	"path/filepath"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

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
	if err := vfs.MkdirAll(l.cfg.FS, dstDir, 0o755); err != nil {
		return fmt.Errorf("segment: checkpoint: %w", err)
	}
	segs := l.segments()
	for _, s := range segs[:len(segs)-1] {
		for _, p := range []string{s.path, s.idxPath} {
			if err := l.cfg.FS.Link(p, filepath.Join(dstDir, filepath.Base(p))); err != nil {
				return fmt.Errorf("segment: checkpoint: %w", err)
			}
		}
	}
	a, err := createSegment(l.cfg.FS, dstDir, l.active().base, l.cfg.Files)
	if err != nil {
		return fmt.Errorf("segment: checkpoint: %w", err)
	}
	a.release()
	if err := vfs.Sync(l.cfg.FS, dstDir); err != nil {
		return fmt.Errorf("segment: checkpoint: %w", err)
	}
	return nil
}
