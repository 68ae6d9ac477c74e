package storage

import (
	"context"
	"io"

	"github.com/flowmesh/flowmesh/nodeadmin"
)

// SaveSnapshot takes a fresh raft snapshot for an operator's backup (with
// nothing new since the last one, that one serves) and opens it: the
// stream (internal/snapdir format) and its metadata. The caller closes the
// reader. Leader only: elsewhere a *flowmesh.NotLeaderError. Taking the
// snapshot waits up to ctx and at most 10 s.
func (s *Storage) SaveSnapshot(ctx context.Context) (nodeadmin.SnapshotMeta, io.ReadCloser, error) {
	_, c, err := s.running()
	if err != nil {
		return nodeadmin.SnapshotMeta{}, nil, err
	}
	return c.SaveSnapshot(ctx)
}

// RestoreSnapshot replaces the cluster's state with a snapshot stream read
// from r (as SaveSnapshot writes it; opts.Size bytes), through raft on the
// leader, after verifying all of it. Leader only: elsewhere a
// *flowmesh.NotLeaderError. A snapshot of another cluster is refused with
// nodeadmin.ErrForeignSnapshot unless opts.ForceClusterID, and a restore
// while another runs with nodeadmin.ErrRestoreInProgress.
func (s *Storage) RestoreSnapshot(ctx context.Context, r io.Reader, opts nodeadmin.RestoreOptions) error {
	_, c, err := s.running()
	if err != nil {
		return err
	}
	return c.Restore(ctx, r, opts)
}
