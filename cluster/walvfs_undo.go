package cluster

import (
	"fmt"
	"os"
)

// undoFile puts back what undo's writes replaced in the file at path,
// newest first, through a file handle of its own.
func undoFile(path string, undo []pcUndo) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for i := len(undo) - 1; i >= 0; i-- {
		u := undo[i]
		if len(u.old) > 0 {
			if _, err := f.WriteAt(u.old, u.off); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if fi.Size() > u.oldSize {
			if err := f.Truncate(u.oldSize); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	return nil
}
