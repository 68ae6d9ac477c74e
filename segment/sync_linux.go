package segment

import (
	"os"
	"syscall"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// datasync flushes file data and the metadata needed to read it back: an
// fdatasync of an OS file, the file's own Sync on another vfs.FS.
func datasync(vf vfs.File) error {
	f, ok := vf.(*os.File)
	if !ok {
		return vf.Sync()
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
