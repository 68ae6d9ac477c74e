package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// OpenLatestSnapshot opens the newest complete snapshot for streaming, in
// the format Restore reads (the snapshot store's snapdir stream).
func (c *Cluster) OpenLatestSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	metas, err := c.snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(metas) == 0 {
		return nil, nil, errors.New("cluster: no snapshot")
	}
	return c.snaps.Open(metas[0].ID)
}

// Restore replaces the state of the whole cluster with the snapshot stream
// r of meta.Size bytes (raft's user restore): the leader installs it as a
// new snapshot past its last index and followers receive it by
// InstallSnapshot. Leader only; entries in flight fail.
func (c *Cluster) Restore(ctx context.Context, meta *raft.SnapshotMeta, r io.Reader) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	if err := c.raft.Restore(meta, r, timeoutOf(ctx)); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return c.notLeader()
		}
		return fmt.Errorf("cluster: restore: %w", translate(err))
	}
	return nil
}
