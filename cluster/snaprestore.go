package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/durable"
	"github.com/flowmesh/flowmesh/internal/snapdir"
)

// snapshotClusterIDFile is a file at the root of every snapshot's data/ and
// so of its snapdir stream: the cluster ID (32 lowercase hex digits and a
// newline) of the cluster that holds the snapshot. Being a file of the
// stream, it is covered by the stream's per-file and trailer CRC32Cs.
// The snapshot store writes it when it seals a snapshot (replacing the one
// a stream brought, since the snapshot now belongs to this cluster); the
// FSM never writes a root file of that name. Snapshots made before it
// existed have none; Restore then asks for ForceClusterID.
const snapshotClusterIDFile = "cluster-id"

// DefaultSnapshotRestoreMaxBytes bounds the upload Restore stages on disk.
const DefaultSnapshotRestoreMaxBytes int64 = 64 << 30

// restoreDirName holds uploads being verified, under the raft directory;
// New empties it.
const restoreDirName = "restore"

// SnapshotChecker is the FSM's optional capability to verify a snapshot's
// data directory without changing it; it returns the raft index the
// snapshot's state covers. Restore uses it on uploads and the snapshot
// store on what it finds at start-up.
type SnapshotChecker interface {
	CheckSnapshot(dataDir string) (index uint64, err error)
}

func writeSnapshotClusterID(dataDir, id string) error {
	return durable.WriteFile(filepath.Join(dataDir, snapshotClusterIDFile), []byte(id+"\n"))
}

// readSnapshotClusterID returns the cluster ID a snapshot's data names, ""
// when it names none.
func readSnapshotClusterID(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, snapshotClusterIDFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	id := strings.TrimSuffix(string(b), "\n")
	if !clusterIDPattern.MatchString(id) {
		return "", flowmesh.Invalid("snapshot", "its %s file does not hold a cluster ID", snapshotClusterIDFile)
	}
	return id, nil
}

// Restore replaces the state of the whole cluster with the snapshot stream
// r of opts.Size bytes (raft's user restore): the leader installs it as a
// new snapshot past its last index and followers receive it by
// InstallSnapshot. Leader only; entries in flight fail.
//
// Nothing reaches raft before the whole stream is staged in a file (at most
// Config.SnapshotRestoreMaxBytes) and verified: its format and every CRC,
// the FSM's checkpoint, and its cluster ID. Raft panics when the FSM
// cannot restore a snapshot it has already installed, so a bad upload must
// be refused here; it returns an error matching flowmesh.ErrInvalidArgument
// (malformed, corrupt, empty, wrong size), flowmesh.ErrLimitExceeded (too
// big) or ErrForeignSnapshot, and changes nothing.
func (c *Cluster) Restore(ctx context.Context, r io.Reader, opts RestoreOptions) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	switch {
	case opts.Size <= 0:
		return flowmesh.Invalid("size", "a snapshot stream has at least one byte, not %d", opts.Size)
	case opts.Size > c.cfg.SnapshotRestoreMaxBytes:
		return &flowmesh.LimitError{What: "snapshot size", Limit: c.cfg.SnapshotRestoreMaxBytes, Got: opts.Size}
	}
	if !c.restoreMu.TryLock() {
		return ErrRestoreInProgress
	}
	defer c.restoreMu.Unlock()

	staged, err := c.stageRestore(ctx, r, opts)
	if staged != nil {
		defer staged.remove()
	}
	if err != nil {
		return err
	}
	if _, err := staged.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("cluster: restore: %w", err)
	}
	// The checkpoint's index, not the caller's word, is the floor for the
	// index raft gives the restored snapshot: the FSM skips entries at or
	// below it afterwards.
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: staged.index, Size: opts.Size}
	if err := c.raft.Restore(meta, staged.file, timeoutOf(ctx)); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return c.notLeader()
		}
		return fmt.Errorf("cluster: restore: %w", translate(err))
	}
	c.logger.Info("restored an uploaded snapshot", "bytes", opts.Size, "checkpoint_index", staged.index,
		"forced_cluster_id", opts.ForceClusterID)
	return nil
}

// stagedRestore is a verified upload.
type stagedRestore struct {
	dir   string
	file  *os.File
	index uint64 // the FSM checkpoint's index
}

func (s *stagedRestore) remove() {
	s.file.Close()
	os.RemoveAll(s.dir)
}

// stageRestore copies the upload to a file and verifies it by decoding it
// into a scratch directory (removed with the file).
func (c *Cluster) stageRestore(ctx context.Context, r io.Reader, opts RestoreOptions) (*stagedRestore, error) {
	root := filepath.Join(c.cfg.DataDir, raftDirName, restoreDirName)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: restore: %w", err)
	}
	dir, err := os.MkdirTemp(root, "upload-")
	if err != nil {
		return nil, fmt.Errorf("cluster: restore: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "stream"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("cluster: restore: %w", err)
	}
	s := &stagedRestore{dir: dir, file: f}
	n, err := io.Copy(f, io.LimitReader(r, opts.Size+1))
	switch {
	case err != nil && ctx.Err() != nil:
		return s, ctx.Err()
	case err != nil:
		return s, fmt.Errorf("cluster: restore: receiving the snapshot: %w", err)
	case n != opts.Size:
		return s, flowmesh.Invalid("size", "the snapshot stream is %s bytes, its info says %d", sizeWord(n, opts.Size), opts.Size)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return s, fmt.Errorf("cluster: restore: %w", err)
	}
	data := filepath.Join(dir, "data")
	if err := snapdir.Read(f, data); err != nil {
		if errors.Is(err, snapdir.ErrCorrupt) {
			return s, flowmesh.Invalid("snapshot", "%v", err)
		}
		return s, fmt.Errorf("cluster: restore: %w", err)
	}
	if ch, ok := c.fsm.FSM.(SnapshotChecker); ok {
		if s.index, err = ch.CheckSnapshot(data); err != nil {
			return s, flowmesh.Invalid("snapshot", "%v", err)
		}
	}
	theirs, err := readSnapshotClusterID(data)
	if err != nil {
		return s, err
	}
	if err := c.checkRestoreClusterID(theirs, opts.ForceClusterID); err != nil {
		return s, err
	}
	return s, nil
}

func sizeWord(n, want int64) string {
	if n > want {
		return "more than that"
	}
	return fmt.Sprint(n)
}

func (c *Cluster) checkRestoreClusterID(theirs string, force bool) error {
	ours := c.ClusterID()
	switch {
	case theirs != "" && theirs == ours:
		return nil
	case force:
		c.logger.Warn("restoring a snapshot of another cluster, as forced", "snapshot_cluster_id", theirs, "cluster_id", ours)
		return nil
	case theirs == "":
		return fmt.Errorf("%w: the snapshot names no cluster (an older format); if it is the right one, restore it with --force-cluster-id (force_cluster_id)", ErrForeignSnapshot)
	case ours == "":
		return fmt.Errorf("%w: this node does not know its cluster ID yet; retry, or restore with --force-cluster-id (force_cluster_id)", ErrForeignSnapshot)
	}
	return fmt.Errorf("%w: the snapshot is of cluster %s, this is cluster %s; to replace this cluster's state with it anyway, restore with --force-cluster-id (force_cluster_id)", ErrForeignSnapshot, theirs, ours)
}
