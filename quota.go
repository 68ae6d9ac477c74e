package flowmesh

import (
	"context"
	"fmt"
	"time"
)

// Quota names, as they appear in errors, the CLI and /metrics.
const (
	QuotaStoredBytes = "stored_bytes"
	QuotaResources   = "resources"
	QuotaPartitions  = "partitions"
	QuotaKVKeys      = "kv_keys"
	QuotaQueueJobs   = "queue_jobs"
	// QuotaMemoryBytes is cluster-wide, not per tenant: the memory-resident
	// state of all tenants together (see DefaultMemoryQuota). It is a field
	// of the cluster default ("*") only.
	QuotaMemoryBytes = "memory_bytes"
)

// DefaultQuotaTenant names the cluster-wide default quota, which applies to
// every field a tenant has not set itself.
const DefaultQuotaTenant = "*"

// QuotaValues are a tenant's effective limits (0 = unlimited) or its usage.
type QuotaValues struct {
	StoredBytes int64 // stream events, queue job payloads, KV keys+values
	Resources   int64 // streams, queues and KV stores
	Partitions  int64 // stream partitions
	KVKeys      int64
	QueueJobs   int64 // waiting, delayed, in flight and dead
	// MemoryBytes is what the state machine holds in memory (KV keys and
	// values, queue job payloads, and a fixed charge per key, job,
	// resource, partition and consumer-group offset: limits.go). As a use
	// it is the tenant's own, and for DefaultQuotaTenant all tenants'
	// together; as a limit it is the cluster-wide one, which bounds the
	// sum over all tenants.
	MemoryBytes int64
}

// QuotaLimits is a partial quota: a nil field is not set (it inherits the
// cluster default; in an update, it is left as it is). 0 is unlimited.
type QuotaLimits struct {
	StoredBytes *int64
	Resources   *int64
	Partitions  *int64
	KVKeys      *int64
	QueueJobs   *int64
	// MemoryBytes is the cluster-wide limit on the memory-resident state of
	// all tenants together; only the cluster default (DefaultQuotaTenant)
	// may set it. Not set there: DefaultMemoryQuota.
	MemoryBytes *int64
}

// TenantQuota is a tenant's quota as reported by GetQuota.
type TenantQuota struct {
	Tenant string
	Set    QuotaLimits // the tenant's own fields
	Limits QuotaValues // effective: its own fields over the default
	Usage  QuotaValues
}

// QuotaManager sets and reads tenant quotas. The embedded node
// (storage.Storage) and the client implement it.
type QuotaManager interface {
	// SetQuota merges the set fields of limits into tenant's own quota,
	// after clearing them when reset is true, and returns the result.
	// Tenant DefaultQuotaTenant is the cluster default.
	SetQuota(ctx context.Context, tenant string, limits QuotaLimits, reset bool) (TenantQuota, error)
	// Quota returns tenant's quota and use (a linearizable read).
	Quota(ctx context.Context, tenant string) (TenantQuota, error)
}

// QuotaError reports a write refused by a tenant quota, or, with Tenant
// DefaultQuotaTenant and Quota QuotaMemoryBytes, by the cluster-wide memory
// quota (Using is then all tenants' use). It matches ErrLimitExceeded.
type QuotaError struct {
	Tenant string
	Quota  string // one of the Quota* names
	Limit  int64
	Using  int64
	Needs  int64 // what the refused write adds
}

func (e *QuotaError) Error() string {
	if e.Tenant == DefaultQuotaTenant {
		return fmt.Sprintf("cluster-wide quota %s %d exceeded: all tenants use %d, write needs %d", e.Quota, e.Limit, e.Using, e.Needs)
	}
	return fmt.Sprintf("tenant %s: quota %s %d exceeded: using %d, write needs %d", e.Tenant, e.Quota, e.Limit, e.Using, e.Needs)
}
func (e *QuotaError) Is(target error) bool { return target == ErrLimitExceeded }

// RateLimitError reports a call refused by a node's per-tenant request
// rate. It matches ErrLimitExceeded. Wait RetryAfter before calling again.
type RateLimitError struct {
	Tenant     string
	Rate       float64 // requests per second
	Burst      int
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("tenant %s: request rate %g/s (burst %d) exceeded; retry after %v", e.Tenant, e.Rate, e.Burst, e.RetryAfter)
}
func (e *RateLimitError) Is(target error) bool { return target == ErrLimitExceeded }
