package cluster

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/nodeadmin"
)

// snapshotSaveTimeout bounds SaveSnapshot's wait for the fresh snapshot.
const snapshotSaveTimeout = 10 * time.Second

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

// SaveSnapshot takes a fresh snapshot for an operator's backup (SnapshotNow;
// with nothing new since the last snapshot, that one serves) and opens it
// for streaming in the format Restore reads. The caller closes the reader.
// Leader only: elsewhere a *flowmesh.NotLeaderError. Taking the snapshot
// waits up to ctx and at most 10 s.
func (c *Cluster) SaveSnapshot(ctx context.Context) (nodeadmin.SnapshotMeta, io.ReadCloser, error) {
	if !c.IsLeader() {
		return nodeadmin.SnapshotMeta{}, nil, c.notLeader()
	}
	sctx, cancel := context.WithTimeout(ctx, snapshotSaveTimeout)
	err := c.SnapshotNow(sctx)
	cancel()
	if err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
		return nodeadmin.SnapshotMeta{}, nil, err
	}
	meta, rc, err := c.OpenLatestSnapshot()
	if err != nil {
		return nodeadmin.SnapshotMeta{}, nil, err
	}
	return nodeadmin.SnapshotMeta{ID: meta.ID, Index: meta.Index, Term: meta.Term, Size: meta.Size, Version: int(meta.Version)}, rc, nil
}
