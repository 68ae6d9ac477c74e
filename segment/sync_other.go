//go:build !linux

package segment

import "github.com/flowmesh/flowmesh/internal/vfs"

func datasync(f vfs.File) error { return f.Sync() }
