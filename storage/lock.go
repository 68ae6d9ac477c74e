//go:build unix

package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockFile is the data dir's lock: Start takes an exclusive flock on it
// before it opens anything, and Stop releases it. A second node started on
// the same data dir (a copy-pasted systemd unit, two containers on one
// volume) is refused at once with the holder's PID, before it could
// recover, and so truncate, segments that the first node is appending to.
// The kernel drops the lock when the holder dies, so a crash leaves nothing
// to clean up; the file itself stays.
const lockFile = "LOCK"

// dirLock is a held lock on a data dir.
type dirLock struct{ f *os.File }

// lockDataDir takes the lock on dir, or says who holds it.
func lockDataDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := make([]byte, 32)
		n, _ := f.ReadAt(holder, 0)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := string(bytes.TrimSpace(holder[:n]))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fmt.Errorf("storage: data dir %s is in use by another FlowMesh node (pid %s holds %s): stop it, or give this node a data dir of its own", dir, pid, path)
		}
		return nil, fmt.Errorf("storage: lock data dir: flock %s: %w", path, err)
	}
	// The PID is for the message above only; a full disk must not stop a
	// start (the node serves reads at 0 bytes free), so its write may fail.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &dirLock{f: f}, nil
}

// release drops the lock.
func (l *dirLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// LockDataDir takes the lock a running node holds on dir, for offline
// tools (flowmesh-node convert-log-store): it fails, naming the holder's
// PID, while a node runs on dir. release drops it.
func LockDataDir(dir string) (release func(), err error) {
	l, err := lockDataDir(dir)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}
