package fsm

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// ErrBadSnapshot matches every error CheckSnapshotDir returns for a snapshot
// that cannot be restored (no, empty, undecodable or impossible checkpoint).
var ErrBadSnapshot = errors.New("fsm: unusable snapshot")

// maxCheckpointIndex bounds a checkpoint's index: raft adds one to a
// restored snapshot's index, and an index near the top of uint64 could only
// come from a forged or corrupt checkpoint.
const maxCheckpointIndex = math.MaxInt64

// CheckSnapshotDir verifies, without changing anything, that dir (a
// snapshot's data, as Snapshot captures it and Restore receives it) holds a
// checkpoint this FSM could have written: present, non-empty, decodable,
// at an index above 0 and passing the checks Open applies to its own
// checkpoint. It returns the checkpoint's index. Restore runs it before it
// touches the live state, and the cluster runs it on uploads and on the
// snapshots it finds at start-up, so there is one definition of a usable
// snapshot.
func CheckSnapshotDir(dir string) (uint64, error) {
	p := filepath.Join(dir, checkpointFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("%w: it has no %s", ErrBadSnapshot, checkpointFile)
	}
	if err != nil {
		return 0, fmt.Errorf("fsm: read snapshot checkpoint: %w", err)
	}
	if len(b) == 0 {
		return 0, fmt.Errorf("%w: its %s is empty", ErrBadSnapshot, checkpointFile)
	}
	cp := &fsmpb.Checkpoint{}
	if err := proto.Unmarshal(b, cp); err != nil {
		return 0, fmt.Errorf("%w: its %s does not decode: %v", ErrBadSnapshot, checkpointFile, err)
	}
	if cp.Index == 0 || cp.Index > maxCheckpointIndex {
		return 0, fmt.Errorf("%w: its %s is at index %d", ErrBadSnapshot, checkpointFile, cp.Index)
	}
	if err := checkCheckpoint(cp); err != nil {
		return 0, fmt.Errorf("%w: its %s: %v", ErrBadSnapshot, checkpointFile, err)
	}
	return cp.Index, nil
}

// CheckSnapshot is CheckSnapshotDir as the FSM's optional capability that
// package cluster looks for (cluster.SnapshotChecker).
func (f *FSM) CheckSnapshot(dir string) (uint64, error) { return CheckSnapshotDir(dir) }
