package pbconv

import (
	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

func copyInt(v *int64) *int64 {
	if v == nil {
		return nil
	}
	x := *v
	return &x
}

// QuotaLimits converts a partial quota.
func QuotaLimits(q flowmesh.QuotaLimits) *pb.QuotaLimits {
	return &pb.QuotaLimits{StoredBytes: copyInt(q.StoredBytes), Resources: copyInt(q.Resources),
		Partitions: copyInt(q.Partitions), KvKeys: copyInt(q.KVKeys), QueueJobs: copyInt(q.QueueJobs),
		MemoryBytes: copyInt(q.MemoryBytes)}
}

// FromQuotaLimits converts it back; nil has no field set.
func FromQuotaLimits(p *pb.QuotaLimits) flowmesh.QuotaLimits {
	if p == nil {
		return flowmesh.QuotaLimits{}
	}
	return flowmesh.QuotaLimits{StoredBytes: copyInt(p.StoredBytes), Resources: copyInt(p.Resources),
		Partitions: copyInt(p.Partitions), KVKeys: copyInt(p.KvKeys), QueueJobs: copyInt(p.QueueJobs),
		MemoryBytes: copyInt(p.MemoryBytes)}
}

// QuotaValues converts limits or usage.
func QuotaValues(v flowmesh.QuotaValues) *pb.QuotaValues {
	return &pb.QuotaValues{StoredBytes: v.StoredBytes, Resources: v.Resources, Partitions: v.Partitions,
		KvKeys: v.KVKeys, QueueJobs: v.QueueJobs, MemoryBytes: v.MemoryBytes}
}

// FromQuotaValues converts them back.
func FromQuotaValues(p *pb.QuotaValues) flowmesh.QuotaValues {
	return flowmesh.QuotaValues{StoredBytes: p.GetStoredBytes(), Resources: p.GetResources(), Partitions: p.GetPartitions(),
		KVKeys: p.GetKvKeys(), QueueJobs: p.GetQueueJobs(), MemoryBytes: p.GetMemoryBytes()}
}

// TenantQuota converts a tenant's quota report.
func TenantQuota(q flowmesh.TenantQuota) *pb.QuotaResponse {
	return &pb.QuotaResponse{Tenant: q.Tenant, Set: QuotaLimits(q.Set), Limits: QuotaValues(q.Limits), Usage: QuotaValues(q.Usage)}
}

// FromTenantQuota converts it back.
func FromTenantQuota(p *pb.QuotaResponse) flowmesh.TenantQuota {
	return flowmesh.TenantQuota{Tenant: p.GetTenant(), Set: FromQuotaLimits(p.GetSet()),
		Limits: FromQuotaValues(p.GetLimits()), Usage: FromQuotaValues(p.GetUsage())}
}
