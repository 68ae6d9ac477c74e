package rpc

import (
	"context"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/nodeadmin"
)

// Node is what the server serves: one method set, the node's own, taken
// directly. *storage.Storage has it (main and rpctest assert so at compile
// time); every call of every service goes to it, so there are no optional
// capabilities to discover. Its parts are named below so each handler file
// says what it uses, and the server knows raft only through them (values
// of package nodeadmin).
type Node interface {
	flowmesh.ResourceManager
	flowmesh.StreamManager
	flowmesh.QueueManager
	flowmesh.QueueBatcher
	flowmesh.KVManager
	flowmesh.TxnManager
	QuotaAdmin
	ClusterAdmin
	StatusSource

	// NextRevision is the revision a Watch from 0 on path starts at in this
	// node's state: the server reports it before the first event.
	NextRevision(ctx context.Context, path string) (uint64, error)
}

// StatusSource is what ClusterService's Status reports: the node's raft
// state, the leader's gRPC address, readiness and the disk alarm. The
// server adds this node's address and version (Config).
type StatusSource interface {
	// Status is the node's raft state; an error once it stopped.
	Status() (nodeadmin.Status, error)
	LeaderGRPC() (id, addr string)
	// Ready decides whether the node is ready (it may wait up to half a
	// second for the node to apply the leader's index).
	Ready(ctx context.Context) nodeadmin.Readiness
	// LocalDisk is this node's free bytes, reserve and alarm.
	LocalDisk() (free, reserve int64, alarm bool)
	// DiskAlarm is the error refusing growth now (a node of the cluster is
	// short of disk), or nil.
	DiskAlarm() error
}
