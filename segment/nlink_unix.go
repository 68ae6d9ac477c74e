//go:build unix

package segment

import (
	"os"
	"syscall"
)

// linkCount is the number of names path's file has (0 if unknown).
func linkCount(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}
