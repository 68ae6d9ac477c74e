package metrics

import (
	"sort"

	"github.com/flowmesh/flowmesh"
)

// MaxTenantSeries bounds the tenants that get their own usage series:
// the MaxTenantSeries tenants storing the most bytes (ties by name) are
// labelled by name, the rest are summed under OtherTenant. A scrape thus
// has at most (MaxTenantSeries+1) x 6 usage series however many tenants
// exist.
const MaxTenantSeries = 100

// OtherTenant labels the summed use of the tenants beyond MaxTenantSeries.
const OtherTenant = "_other"

// TenantUsage is one tenant's use and effective quota limits.
type TenantUsage struct {
	Tenant string
	Usage  flowmesh.QuotaValues
	Limits flowmesh.QuotaValues // 0 = unlimited
}

// boundTenants keeps the MaxTenantSeries largest tenants and folds the
// rest into one OtherTenant entry (whose limits are not meaningful: 0).
func boundTenants(ts []TenantUsage) []TenantUsage {
	if len(ts) <= MaxTenantSeries {
		return ts
	}
	ts = append([]TenantUsage(nil), ts...)
	sort.Slice(ts, func(i, j int) bool {
		if ts[i].Usage.StoredBytes != ts[j].Usage.StoredBytes {
			return ts[i].Usage.StoredBytes > ts[j].Usage.StoredBytes
		}
		return ts[i].Tenant < ts[j].Tenant
	})
	other := TenantUsage{Tenant: OtherTenant}
	for _, t := range ts[MaxTenantSeries:] {
		u := &other.Usage
		u.StoredBytes += t.Usage.StoredBytes
		u.Resources += t.Usage.Resources
		u.Partitions += t.Usage.Partitions
		u.KVKeys += t.Usage.KVKeys
		u.QueueJobs += t.Usage.QueueJobs
		u.MemoryBytes += t.Usage.MemoryBytes
	}
	return append(ts[:MaxTenantSeries:MaxTenantSeries], other)
}

func quotaSeries(v flowmesh.QuotaValues) []struct {
	name string
	v    int64
} {
	return []struct {
		name string
		v    int64
	}{
		{flowmesh.QuotaStoredBytes, v.StoredBytes}, {flowmesh.QuotaResources, v.Resources},
		{flowmesh.QuotaPartitions, v.Partitions}, {flowmesh.QuotaKVKeys, v.KVKeys}, {flowmesh.QuotaQueueJobs, v.QueueJobs},
	}
}
