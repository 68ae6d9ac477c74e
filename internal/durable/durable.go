// Package durable makes file system changes survive a crash: fsync of a
// file or directory, and whole-file replacement by a synced temporary file
// and a rename. It is internal/vfs's Sync and WriteFile on the operating
// system's file system, for the packages that have no FS seam.
package durable

import "github.com/flowmesh/flowmesh/internal/vfs"

// Sync fsyncs the file or directory at path; for a directory this makes
// the entries created, renamed or removed in it durable.
func Sync(path string) error { return vfs.Sync(vfs.Default, path) }

// WriteFile replaces path with b atomically: a crash leaves either the old
// contents or the new, never a mix. It writes and fsyncs path+".tmp",
// renames it over path and fsyncs the directory.
func WriteFile(path string, b []byte) error { return vfs.WriteFile(vfs.Default, path, b) }
