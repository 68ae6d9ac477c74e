package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/flowmesh/flowmesh/internal/durable"
)

// DefaultDiskBallastMaxBytes caps the default ballast (a quarter of the
// reserve).
const DefaultDiskBallastMaxBytes = 64 << 20

// The ballast is two files of allocated zeros in DataDir, each half of the
// ballast's size; nothing reads them and deleting them by hand is always
// safe. The running node releases the first when it runs short; only a
// start-up below the critical floor releases the second, so that a node
// whose first ballast was taken by whatever filled the disk still has room
// to start.
const (
	ballastFile      = "disk-ballast"
	startBallastFile = "disk-ballast-start"
)

// ballastSize is the configured ballast, or the default for a reserve.
func (s *Storage) ballastSize(reserve int64) int64 {
	switch {
	case s.cfg.DiskBallastBytes > 0:
		return s.cfg.DiskBallastBytes
	case s.cfg.DiskBallastBytes < 0:
		return 0
	}
	return min(reserve/4, DefaultDiskBallastMaxBytes)
}

// clearMargin is how far above the reserve free space must come back
// before an alarm clears: an eighth of the reserve, so that a node that
// hovers at its reserve does not flap between refusing and taking writes.
func clearMargin(reserve int64) int64 { return reserve / 8 }

func (s *Storage) ballastPath(name string) string { return filepath.Join(s.cfg.DataDir, name) }

// hasBallast reports whether the ballast file name is there.
func (s *Storage) hasBallast(name string) bool {
	_, err := os.Stat(s.ballastPath(name))
	return err == nil
}

// releaseBallast deletes the ballast file name, returning its space to the
// filesystem; it reports whether there was one.
func (s *Storage) releaseBallast(name, why string) bool {
	p := s.ballastPath(name)
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	if err := os.Remove(p); err != nil {
		s.log.Error("cannot release the disk ballast", "path", p, "err", err)
		return false
	}
	s.log.Warn("disk ballast released", "why", why, "bytes", fi.Size(), "path", p)
	return true
}

// createBallast allocates the ballast file name, size bytes (fsynced),
// under a temporary name, then renames it into place: a ballast is whole
// or absent.
func (s *Storage) createBallast(name string, size int64) error {
	p := s.ballastPath(name)
	tmp := p + ".tmp"
	err := func() error {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if err := allocate(f, size); err != nil {
			f.Close()
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, p); err != nil {
			return err
		}
		return durable.Sync(s.cfg.DataDir)
	}()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: create disk ballast %s: %w", p, err)
	}
	s.log.Info("disk ballast in place", "bytes", size, "path", p)
	return nil
}

// tendBallast releases the running ballast when free is below the
// critical floor (the ballast's size), and at start-up the start-up one
// too; it puts both back once free space passes the reserve, the clear
// margin and the ballast. It returns the free space after that.
func (s *Storage) tendBallast(free, reserve int64, starting bool) int64 {
	size := s.ballastSize(reserve)
	if size <= 0 || reserve <= 0 {
		return free
	}
	var changed bool
	switch {
	case free < size:
		why := fmt.Sprintf("%d bytes free, below the critical floor of %d", free, size)
		changed = s.releaseBallast(ballastFile, why)
		if starting {
			changed = s.releaseBallast(startBallastFile, why+", at start-up") || changed
		}
	case free >= reserve+clearMargin(reserve)+size && (s.fsm == nil || !s.fsm.Stalled()):
		for _, name := range []string{startBallastFile, ballastFile} {
			if s.hasBallast(name) {
				continue
			}
			if err := s.createBallast(name, size/2); err != nil {
				s.log.Warn("no disk ballast", "err", err)
			}
			changed = true
		}
	}
	if changed {
		if f, _, err := statfs(s.cfg.DataDir); err == nil {
			return f
		}
	}
	return free
}

// writeZeros writes size zero bytes to f.
func writeZeros(f *os.File, size int64) error {
	buf := make([]byte, min(size, 1<<20))
	for n := size; n > 0; n -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n)]); err != nil {
			return err
		}
	}
	return nil
}

// MinFreshBytes is the free space a node needs to create a new data dir
// (node ID, raft log and stable store, the FSM's directories, the first
// snapshot): a fresh node has no ballast to release.
const MinFreshBytes = 4 << 20

// checkFresh refuses to create a new data dir on a filesystem with less
// than MinFreshBytes free, with an error naming the filesystem, rather
// than failing half-way through creating it.
func (s *Storage) checkFresh() error {
	if !s.emptyDataDir() {
		return nil
	}
	free, _, err := statfs(s.cfg.DataDir)
	if err != nil || free >= MinFreshBytes {
		return nil
	}
	return fmt.Errorf("storage: data dir %s is new and its filesystem has %d bytes free (no space left on device): a new node needs %d bytes to create its stores; free space, or start it elsewhere",
		s.cfg.DataDir, free, MinFreshBytes)
}

// emptyDataDir reports whether DataDir holds no node state yet (it may hold
// its LOCK and a leftover ballast).
func (s *Storage) emptyDataDir() bool {
	es, err := os.ReadDir(s.cfg.DataDir)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	for _, e := range es {
		switch e.Name() {
		case lockFile, ballastFile, ballastFile + ".tmp", startBallastFile, startBallastFile + ".tmp":
		default:
			return false
		}
	}
	return true
}
