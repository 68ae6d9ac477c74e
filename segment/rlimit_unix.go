//go:build unix

package segment

import "syscall"

// fileLimit is the process's RLIMIT_NOFILE soft limit, capped at 1<<20
// (RLIM_INFINITY) and 1024 if it cannot be read.
func fileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 1024
	}
	return int(min(r.Cur, 1<<20))
}
