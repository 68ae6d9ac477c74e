package nodeadmin

import "errors"

// SnapshotMeta describes a raft snapshot stream, as a node saves it for an
// operator's backup and as the operator hands it back to restore.
type SnapshotMeta struct {
	ID      string // the snapshot store's name for it
	Index   uint64 // the last raft index its state covers
	Term    uint64 // the term of that index
	Size    int64  // bytes of the stream
	Version int    // raft's snapshot format version
}

var (
	// ErrForeignSnapshot is returned by a restore of a snapshot of another
	// cluster, or one that names no cluster, without ForceClusterID.
	ErrForeignSnapshot = errors.New("cluster: snapshot of another cluster")
	// ErrRestoreInProgress is returned by a restore while another runs.
	ErrRestoreInProgress = errors.New("cluster: another snapshot restore is in progress")
)

// RestoreOptions are Restore's parameters.
type RestoreOptions struct {
	// Size is the exact length of the snapshot stream, in bytes.
	Size int64
	// ForceClusterID restores a snapshot of another cluster, or one that
	// names no cluster.
	ForceClusterID bool
}
