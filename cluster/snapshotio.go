package cluster

import (
	"errors"
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
