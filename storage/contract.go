package storage

import (
	"github.com/flowmesh/flowmesh"
)

// A *Storage is itself every contract interface of the root package, as
// *client.Client is: the node has one method set (streams.go, queues.go,
// queues_batch.go, kv.go, txn.go, meta.go, quota.go, and the cluster
// operations of membership.go, snapshot.go, ready.go and disk.go). The
// gRPC server takes that value directly (rpc.Node, asserted where it is
// wired), and code written against the interfaces runs on an embedded node
// or over the network unchanged. The founding API (founding.go) hands out
// views of the same node: both ways call the same code.
var (
	_ flowmesh.ResourceManager = (*Storage)(nil)
	_ flowmesh.StreamManager   = (*Storage)(nil)
	_ flowmesh.QueueManager    = (*Storage)(nil)
	_ flowmesh.QueueBatcher    = (*Storage)(nil)
	_ flowmesh.KVManager       = (*Storage)(nil)
	_ flowmesh.TxnManager      = (*Storage)(nil)
	_ flowmesh.QuotaManager    = (*Storage)(nil)
)
