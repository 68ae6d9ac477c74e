//go:build !unix

package cluster

import "os"

// lockWALDir does nothing where flock(2) does not exist.
func lockWALDir(string) (*os.File, error) { return nil, nil }
