package rpc

import (
	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/auth"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// access is what a method needs: a permission in the tenant (and namespace)
// the request names, cluster-admin, or only an authenticated caller.
type access struct {
	perm    auth.Perm
	cluster bool // cluster-admin
	anyone  bool // any authenticated caller
	scope   scopeFunc
	list    bool // a listing: some grant in the tenant suffices, the handler filters
	// scopes, when set, replaces perm and scope for a request that spans
	// namespaces: the permission it needs in each of them (txn.go).
	scopes func(req any) (perm auth.Perm, tenant string, namespaces []string, err error)
}

// scopeFunc finds the tenant and namespace a request acts on.
type scopeFunc func(req any) (tenant, namespace string, err error)

type pathRequest interface{ GetPath() string }

type tenantRequest interface {
	GetTenant() string
	GetNamespace() string
}

// byPath scopes a request by its "tenant/namespace/name" path field.
func byPath(req any) (string, string, error) {
	r, ok := req.(pathRequest)
	if !ok {
		return "", "", flowmesh.Invalid("path", "request has no path")
	}
	t, ns, _, err := flowmesh.ParsePath(r.GetPath())
	return t, ns, err
}

// byTenant scopes a request by its tenant and namespace fields.
func byTenant(req any) (string, string, error) {
	r, ok := req.(tenantRequest)
	if !ok {
		return "", "", flowmesh.Invalid("tenant", "request has no tenant")
	}
	if err := flowmesh.ValidateName("tenant", r.GetTenant()); err != nil {
		return "", "", err
	}
	if ns := r.GetNamespace(); ns != "" {
		if err := flowmesh.ValidateName("namespace", ns); err != nil {
			return "", "", err
		}
	}
	return r.GetTenant(), r.GetNamespace(), nil
}

func read(s scopeFunc) access  { return access{perm: auth.PermRead, scope: s} }
func write(s scopeFunc) access { return access{perm: auth.PermWrite, scope: s} }
func admin(s scopeFunc) access { return access{perm: auth.PermAdmin, scope: s} }

var clusterAdmin = access{cluster: true}

// methods maps every flowmesh.v1 method to what it needs. A method missing
// here is refused (TestEveryMethodHasAccess walks the registered services).
var methods = map[string]access{
	pb.ResourceService_CreateStream_FullMethodName:   admin(byTenant),
	pb.ResourceService_CreateQueue_FullMethodName:    admin(byTenant),
	pb.ResourceService_CreateKVStore_FullMethodName:  admin(byTenant),
	pb.ResourceService_DeleteResource_FullMethodName: admin(byPath),
	pb.ResourceService_GetResource_FullMethodName:    read(byPath),
	pb.ResourceService_ListResources_FullMethodName:  {perm: auth.PermRead, scope: byTenant, list: true},

	pb.StreamService_WriteEvents_FullMethodName:    write(byPath),
	pb.StreamService_CommitOffset_FullMethodName:   write(byPath),
	pb.StreamService_ReadFromOffset_FullMethodName: read(byPath),
	pb.StreamService_Subscribe_FullMethodName:      read(byPath),
	pb.StreamService_FetchOffset_FullMethodName:    read(byPath),
	pb.StreamService_PartitionInfo_FullMethodName:  read(byPath),

	pb.QueueService_Enqueue_FullMethodName:            write(byPath),
	pb.QueueService_Reserve_FullMethodName:            write(byPath),
	pb.QueueService_RemoveFromInFlight_FullMethodName: write(byPath),
	pb.QueueService_Ack_FullMethodName:                write(byPath),
	pb.QueueService_Nack_FullMethodName:               write(byPath),
	pb.QueueService_Touch_FullMethodName:              write(byPath),
	pb.QueueService_Purge_FullMethodName:              write(byPath),
	pb.QueueService_Redrive_FullMethodName:            write(byPath),
	pb.QueueService_EnqueueBatch_FullMethodName:       write(byPath),
	pb.QueueService_ReserveBatch_FullMethodName:       write(byPath),
	pb.QueueService_AckBatch_FullMethodName:           write(byPath),
	pb.QueueService_Stats_FullMethodName:              read(byPath),
	pb.QueueService_ListDead_FullMethodName:           read(byPath),

	pb.KVService_Put_FullMethodName:    write(byPath),
	pb.KVService_Delete_FullMethodName: write(byPath),
	pb.KVService_Get_FullMethodName:    read(byPath),
	pb.KVService_List_FullMethodName:   read(byPath),
	pb.KVService_Watch_FullMethodName:  read(byPath),

	// Write on every namespace it names; read when it only reads.
	pb.TxnService_Txn_FullMethodName: {scope: txnTenant, scopes: txnScopes},

	// The SDK finds the leader with Status.
	pb.ClusterService_Status_FullMethodName:          {anyone: true},
	pb.ClusterService_Members_FullMethodName:         {anyone: true},
	pb.ClusterService_Join_FullMethodName:            clusterAdmin,
	pb.ClusterService_Leave_FullMethodName:           clusterAdmin,
	pb.ClusterService_RemovePeer_FullMethodName:      clusterAdmin,
	pb.ClusterService_TransferLeader_FullMethodName:  clusterAdmin,
	pb.ClusterService_SnapshotSave_FullMethodName:    clusterAdmin,
	pb.ClusterService_SnapshotRestore_FullMethodName: clusterAdmin,
	pb.ClusterService_StateHash_FullMethodName:       clusterAdmin,
	pb.ClusterService_SetQuota_FullMethodName:        clusterAdmin,
	// A tenant's admin may read its own quota and use.
	pb.ClusterService_GetQuota_FullMethodName: admin(byQuotaTenant),

	// The pipe needs a credential; each call on it is authorized as its
	// own method with it (pipe.go).
	pb.PipeService_Call_FullMethodName: {anyone: true},
}
