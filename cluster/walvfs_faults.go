//go:build flowmesh_faults

package cluster

import (
	"strings"
	"sync"

	"github.com/flowmesh/flowmesh/internal/faults"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"
)

// With the flowmesh_faults build tag every WAL log store writes through a
// powerCutVFS, and the lose-unsynced crash of the fault harness
// (internal/faults, FLOWMESH_CRASH_LOSE_UNSYNCED_FILE) cuts them all: the
// raft log loses what it had not fsynced, as segment/ files do.

var walVFSs struct {
	mu   sync.Mutex
	vfss []*powerCutVFS
}

func init() { faults.OnCrashLoseUnsynced("raft-wal", cutWALVFSs) }

func newWALVFS() types.VFS {
	v := newPowerCutVFS(fs.New())
	walVFSs.mu.Lock()
	walVFSs.vfss = append(walVFSs.vfss, v)
	walVFSs.mu.Unlock()
	return v
}

// cutWALVFSs cuts every WAL store's files opened in this process (a
// closed store's files were synced by its last append: nothing to undo).
func cutWALVFSs() string {
	walVFSs.mu.Lock() // held until exit: no store opens after the cut
	var out []string
	for _, v := range walVFSs.vfss {
		out = append(out, v.cut())
	}
	if len(out) == 0 {
		return "no raft-wal store open"
	}
	return strings.Join(out, ", ")
}
