//go:build unix

package segment

import (
	"syscall"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// linkCount is the number of names path's file has (0 if unknown, as on
// a file system other than the OS's).
func linkCount(fsys vfs.FS, path string) uint64 {
	fi, err := fsys.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
