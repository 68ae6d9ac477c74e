// Package durable makes file system changes survive a crash: fsync of a
// file or directory, and whole-file replacement by a synced temporary file
// and a rename.
package durable

import (
	"os"
	"path/filepath"
)

// Sync fsyncs the file or directory at path; for a directory this makes
// the entries created, renamed or removed in it durable.
func Sync(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteFile replaces path with b atomically: a crash leaves either the old
// contents or the new, never a mix. It writes and fsyncs path+".tmp",
// renames it over path and fsyncs the directory.
func WriteFile(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return Sync(filepath.Dir(path))
}
