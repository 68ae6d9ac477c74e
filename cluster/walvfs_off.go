//go:build !flowmesh_faults

package cluster

import (
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"
)

// newWALVFS is raft-wal's own file system; with the flowmesh_faults build
// tag it is a powerCutVFS the lose-unsynced crash can cut
// (walvfs_faults.go).
func newWALVFS() types.VFS { return fs.New() }
