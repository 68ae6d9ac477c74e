//go:build unix

package cluster

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockWALDir takes an exclusive flock on the WAL's directory, held until
// the store closes: raft-wal opens its meta database (bbolt) without a
// timeout, so a second open of the same store would wait forever on
// bbolt's lock instead of failing.
func lockWALDir(dir string) (*os.File, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is locked by another process or store (another node on this data dir?)", dir)
		}
		return nil, fmt.Errorf("flock %s: %w", dir, err)
	}
	return f, nil
}
