//go:build !unix

package storage

// dirLock is a no-op where flock(2) does not exist: bbolt's own lock on
// raft.db (or raft-wal's wal-meta.db) still refuses a second node, but only
// after the stores opened.
type dirLock struct{}

func lockDataDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() {}

// LockDataDir is a no-op where flock(2) does not exist.
func LockDataDir(string) (func(), error) { return func() {}, nil }
