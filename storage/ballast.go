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

// ballastFile is the ballast's name in DataDir. It holds zeros and nothing
// reads it; deleting it by hand is always safe.
const ballastFile = "disk-ballast"

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

func (s *Storage) ballastPath() string { return filepath.Join(s.cfg.DataDir, ballastFile) }

// hasBallast reports whether the ballast file is there.
func (s *Storage) hasBallast() bool {
	_, err := os.Stat(s.ballastPath())
	return err == nil
}

// releaseBallast deletes the ballast file, returning its space to the
// filesystem; it reports whether there was one.
func (s *Storage) releaseBallast(why string) bool {
	fi, err := os.Stat(s.ballastPath())
	if err != nil {
		return false
	}
	if err := os.Remove(s.ballastPath()); err != nil {
		s.log.Error("cannot release the disk ballast", "path", s.ballastPath(), "err", err)
		return false
	}
	s.log.Warn("disk ballast released", "why", why, "bytes", fi.Size(), "path", s.ballastPath())
	return true
}

// createBallast writes a ballast of size bytes (zeros, fsynced) under a
// temporary name, then renames it into place: a ballast is whole or absent.
func (s *Storage) createBallast(size int64) error {
	tmp := s.ballastPath() + ".tmp"
	err := func() error {
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		buf := make([]byte, min(size, 1<<20))
		for n := size; n > 0; n -= int64(len(buf)) {
			if _, err := f.Write(buf[:min(int64(len(buf)), n)]); err != nil {
				f.Close()
				return err
			}
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, s.ballastPath()); err != nil {
			return err
		}
		return durable.Sync(s.cfg.DataDir)
	}()
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("storage: create disk ballast %s: %w", s.ballastPath(), err)
	}
	s.log.Info("disk ballast in place", "bytes", size, "path", s.ballastPath())
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
		case lockFile, ballastFile, ballastFile + ".tmp":
		default:
			return false
		}
	}
	return true
}
