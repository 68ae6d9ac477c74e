package rpc

import (
	"context"
	"errors"

	"github.com/flowmesh/flowmesh"
)

// Parts assembles a Backend from parts. A *storage.Storage is every
// manager itself (and a NextRevisioner), so main passes the node for each
// and adds its status:
//
//	rpc.Parts{
//		ResourceManager: s,
//		StreamManager:   s,
//		QueueManager:    s,
//		KVManager:       s,
//		StatusFunc:      rpc.ClusterStatus(s, addr, version),
//	}
type Parts struct {
	flowmesh.ResourceManager
	flowmesh.StreamManager
	flowmesh.QueueManager
	flowmesh.KVManager
	// StatusFunc reports the node's status; nil reports an empty status.
	StatusFunc func(ctx context.Context) (NodeStatus, error)
	// Cluster serves ClusterService's membership and snapshot calls; nil
	// answers them Unimplemented.
	Cluster ClusterAdmin
	// Quotas serves ClusterService's quota calls; nil answers them
	// Unimplemented.
	Quotas QuotaAdmin
}

var _ Backend = Parts{}

// Status calls StatusFunc.
func (p Parts) Status(ctx context.Context) (NodeStatus, error) {
	if p.StatusFunc == nil {
		return NodeStatus{}, nil
	}
	return p.StatusFunc(ctx)
}

// NextRevision asks the KVManager when it is a NextRevisioner; otherwise it
// returns errors.ErrUnsupported.
func (p Parts) NextRevision(ctx context.Context, path string) (uint64, error) {
	if nr, ok := p.KVManager.(NextRevisioner); ok {
		return nr.NextRevision(ctx, path)
	}
	return 0, errors.ErrUnsupported
}
