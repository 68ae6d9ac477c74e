package fsm

import (
	"errors"
	"fmt"
	"sort"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/segment"
	"google.golang.org/protobuf/proto"
)

// usage is a tenant's (or one resource's) use, counted from the state
// every replica holds alike.
type usage = flowmesh.QuotaValues

// eventBytes is what one stream event counts against stored_bytes.
func eventBytes(e *fsmpb.Event) int64 {
	n := int64(len(e.Payload) + len(e.Key))
	for _, h := range e.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

func recordBytes(rec segment.Record) int64 {
	n := int64(len(rec.Payload) + len(rec.Key))
	for _, h := range rec.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// kvBytes is what one stored key counts against stored_bytes.
func kvBytes(key string, value []byte) int64 { return int64(len(key) + len(value)) }

// Memory charges (flowmesh.MemoryPer*): what an item costs against the
// cluster-wide memory quota.
func kvMemory(key string, value []byte) int64 { return kvBytes(key, value) + flowmesh.MemoryPerKVKey }
func jobMemory(payload []byte) int64          { return int64(len(payload)) + flowmesh.MemoryPerJob }
func groupMemory(k groupKey) int64 {
	return int64(len(k.path)+len(k.group)) + flowmesh.MemoryPerGroupOffset
}
func resourceMemory(partitions int) int64 {
	return flowmesh.MemoryPerResource + int64(partitions)*flowmesh.MemoryPerPartition
}

// own is the resource's own use (its consumer-group offsets not included:
// those are counted where they are set and deleted).
func (r *resource) own() usage {
	u := usage{Resources: 1}
	switch {
	case r.stream != nil:
		u.Partitions = int64(len(r.stream.parts))
		for _, p := range r.stream.parts {
			u.StoredBytes += p.bytes
		}
		u.MemoryBytes = resourceMemory(len(r.stream.parts))
	case r.queue != nil:
		u.StoredBytes, u.QueueJobs = r.queue.bytes, int64(len(r.queue.jobs))
		u.MemoryBytes = resourceMemory(0) + r.queue.bytes + u.QueueJobs*flowmesh.MemoryPerJob
	case r.kv != nil:
		u.StoredBytes, u.KVKeys = r.kv.bytes, int64(r.kv.tree.Len())
		u.MemoryBytes = resourceMemory(0) + r.kv.bytes + u.KVKeys*flowmesh.MemoryPerKVKey
	}
	return u
}

// attachUsage adds r's use to its tenant's and lets r's state keep the
// tenant's count current from now on.
func (f *FSM) attachUsage(r *resource) {
	tu := f.usage[r.meta.Tenant]
	if tu == nil {
		tu = &usage{}
		f.usage[r.meta.Tenant] = tu
	}
	own := r.own()
	addUsage(tu, own, 1)
	f.memory += own.MemoryBytes
	switch {
	case r.stream != nil:
		r.stream.tu = tu
	case r.queue != nil:
		r.queue.tu, r.queue.mem = tu, &f.memory
	case r.kv != nil:
		r.kv.tu, r.kv.mem = tu, &f.memory
	}
}

// detachUsage removes a deleted resource's use from its tenant's.
func (f *FSM) detachUsage(r *resource) {
	tu := f.usage[r.meta.Tenant]
	if tu == nil {
		return
	}
	own := r.own()
	addUsage(tu, own, -1)
	f.memory -= own.MemoryBytes
	if tu.Resources == 0 {
		delete(f.usage, r.meta.Tenant)
	}
}

// chargeGroup adds (sign 1) or removes (-1) a consumer-group offset's
// memory to the stream's tenant and the cluster.
func (f *FSM) chargeGroup(r *resource, k groupKey, sign int64) {
	n := sign * groupMemory(k)
	f.memory += n
	if tu := f.usage[r.meta.Tenant]; tu != nil {
		tu.MemoryBytes += n
	}
}

func addUsage(dst *usage, u usage, sign int64) {
	dst.StoredBytes += sign * u.StoredBytes
	dst.Resources += sign * u.Resources
	dst.Partitions += sign * u.Partitions
	dst.KVKeys += sign * u.KVKeys
	dst.QueueJobs += sign * u.QueueJobs
	dst.MemoryBytes += sign * u.MemoryBytes
}

// memoryLimitLocked is the cluster-wide memory quota in force: the cluster
// default's field, else flowmesh.DefaultMemoryQuota; 0 is unlimited.
func (f *FSM) memoryLimitLocked() int64 {
	if q := f.quotas[flowmesh.DefaultQuotaTenant]; q != nil && q.MemoryBytes != nil {
		return *q.MemoryBytes
	}
	return flowmesh.DefaultMemoryQuota
}

// Memory returns the memory-resident state's charge (all tenants) and the
// cluster-wide memory quota in force (0 = unlimited), as this replica
// holds them.
func (f *FSM) Memory() (use, limit int64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.memory, f.memoryLimitLocked()
}

// limits returns the tenant's effective limits: its own fields over the
// cluster default's.
func (f *FSM) limitsLocked(tenant string) usage {
	var out usage
	for _, q := range []*fsmpb.QuotaLimits{f.quotas[flowmesh.DefaultQuotaTenant], f.quotas[tenant]} {
		if q == nil {
			continue
		}
		if q.StoredBytes != nil {
			out.StoredBytes = *q.StoredBytes
		}
		if q.Resources != nil {
			out.Resources = *q.Resources
		}
		if q.Partitions != nil {
			out.Partitions = *q.Partitions
		}
		if q.KvKeys != nil {
			out.KVKeys = *q.KvKeys
		}
		if q.QueueJobs != nil {
			out.QueueJobs = *q.QueueJobs
		}
	}
	out.MemoryBytes = f.memoryLimitLocked()
	return out
}

// checkQuota refuses a write that adds need to tenant's use when that
// would pass a limit. Fields are checked in a fixed order, so every replica
// names the same quota.
func (f *FSM) checkQuota(tenant string, need usage) error {
	lim := f.limitsLocked(tenant)
	var use usage
	if tu := f.usage[tenant]; tu != nil {
		use = *tu
	}
	for _, c := range []struct {
		name             string
		limit, use, need int64
	}{
		{flowmesh.QuotaStoredBytes, lim.StoredBytes, use.StoredBytes, need.StoredBytes},
		{flowmesh.QuotaResources, lim.Resources, use.Resources, need.Resources},
		{flowmesh.QuotaPartitions, lim.Partitions, use.Partitions, need.Partitions},
		{flowmesh.QuotaKVKeys, lim.KVKeys, use.KVKeys, need.KVKeys},
		{flowmesh.QuotaQueueJobs, lim.QueueJobs, use.QueueJobs, need.QueueJobs},
	} {
		if c.limit > 0 && c.need > 0 && c.use+c.need > c.limit {
			return &flowmesh.QuotaError{Tenant: tenant, Quota: c.name, Limit: c.limit, Using: c.use, Needs: c.need}
		}
	}
	// Last, the cluster-wide memory quota: all tenants' use together.
	if limit := lim.MemoryBytes; limit > 0 && need.MemoryBytes > 0 && f.memory+need.MemoryBytes > limit {
		return &flowmesh.QuotaError{Tenant: flowmesh.DefaultQuotaTenant, Quota: flowmesh.QuotaMemoryBytes,
			Limit: limit, Using: f.memory, Needs: need.MemoryBytes}
	}
	return nil
}

// ValidateSetQuota checks a quota update with flowmesh.ValidateSetQuota;
// Apply and a checkpoint's quotas are checked with it as the node checks
// SetQuota before proposing.
func ValidateSetQuota(c *fsmpb.SetQuota) error {
	if c == nil {
		return flowmesh.Invalid("quota", "missing")
	}
	var limits flowmesh.QuotaLimits
	if c.Limits != nil {
		limits = QuotaLimitsFromPB(c.Limits)
	}
	return flowmesh.ValidateSetQuota(c.Tenant, limits)
}

func (f *FSM) applySetQuota(c *fsmpb.SetQuota) (*Result, error) {
	if err := ValidateSetQuota(c); err != nil {
		return nil, err
	}
	q := f.quotas[c.Tenant]
	isNew := q == nil
	if q == nil || c.Reset_ {
		q = &fsmpb.QuotaLimits{}
	} else {
		q = proto.Clone(q).(*fsmpb.QuotaLimits)
	}
	if l := c.Limits; l != nil {
		if l.StoredBytes != nil {
			q.StoredBytes = proto.Int64(*l.StoredBytes)
		}
		if l.Resources != nil {
			q.Resources = proto.Int64(*l.Resources)
		}
		if l.Partitions != nil {
			q.Partitions = proto.Int64(*l.Partitions)
		}
		if l.KvKeys != nil {
			q.KvKeys = proto.Int64(*l.KvKeys)
		}
		if l.QueueJobs != nil {
			q.QueueJobs = proto.Int64(*l.QueueJobs)
		}
		if l.MemoryBytes != nil {
			q.MemoryBytes = proto.Int64(*l.MemoryBytes)
		}
	}
	if proto.Equal(q, &fsmpb.QuotaLimits{}) {
		delete(f.quotas, c.Tenant)
		return &Result{}, nil
	}
	if isNew && c.Tenant != flowmesh.DefaultQuotaTenant {
		own := len(f.quotas)
		if f.quotas[flowmesh.DefaultQuotaTenant] != nil {
			own--
		}
		if own >= flowmesh.MaxQuotaTenants {
			return nil, &flowmesh.LimitError{What: "tenants with a quota of their own", Limit: flowmesh.MaxQuotaTenants, Got: int64(own + 1)}
		}
	}
	f.quotas[c.Tenant] = q
	return &Result{}, nil
}

// Quota reports a tenant's quota: its own fields, the effective limits and
// its use.
func (f *FSM) Quota(tenant string) flowmesh.TenantQuota {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := flowmesh.TenantQuota{Tenant: tenant, Limits: f.limitsLocked(tenant)}
	if tu := f.usage[tenant]; tu != nil && tenant != flowmesh.DefaultQuotaTenant {
		out.Usage = *tu
	}
	if tenant == flowmesh.DefaultQuotaTenant {
		out.Usage.MemoryBytes = f.memory
	}
	if q := f.quotas[tenant]; q != nil {
		out.Set = QuotaLimitsFromPB(q)
	}
	return out
}

// Usage returns every tenant's use, sorted by tenant.
func (f *FSM) Usage() ([]string, []flowmesh.QuotaValues) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	tenants := make([]string, 0, len(f.usage))
	for t := range f.usage {
		tenants = append(tenants, t)
	}
	sort.Strings(tenants)
	out := make([]flowmesh.QuotaValues, len(tenants))
	for i, t := range tenants {
		out[i] = *f.usage[t]
	}
	return tenants, out
}

// QuotaLimitsFromPB converts a stored quota.
func QuotaLimitsFromPB(q *fsmpb.QuotaLimits) flowmesh.QuotaLimits {
	cp := func(v *int64) *int64 {
		if v == nil {
			return nil
		}
		x := *v
		return &x
	}
	return flowmesh.QuotaLimits{StoredBytes: cp(q.StoredBytes), Resources: cp(q.Resources), Partitions: cp(q.Partitions),
		KVKeys: cp(q.KvKeys), QueueJobs: cp(q.QueueJobs), MemoryBytes: cp(q.MemoryBytes)}
}

// QuotaLimitsToPB converts a quota update.
func QuotaLimitsToPB(q flowmesh.QuotaLimits) *fsmpb.QuotaLimits {
	return &fsmpb.QuotaLimits{StoredBytes: q.StoredBytes, Resources: q.Resources, Partitions: q.Partitions,
		KvKeys: q.KVKeys, QueueJobs: q.QueueJobs, MemoryBytes: q.MemoryBytes}
}

func (f *FSM) sortedQuotaTenants() []string {
	out := make([]string, 0, len(f.quotas))
	for t := range f.quotas {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// countStreamBytes reads a partition's retained events to count their
// bytes, for checkpoints written before quotas.
func countStreamBytes(p *partition) (int64, error) {
	var n int64
	err := forEachRecord(p.log, max(p.earliest, p.log.EarliestOffset()), func(rec segment.Record) error {
		n += recordBytes(rec)
		return nil
	})
	return n, err
}

var errStopScan = errors.New("stop")

// rangeBytes counts the bytes of the records in [from, to).
func rangeBytes(l *segment.Log, from, to uint64) (int64, error) {
	var n int64
	err := forEachRecord(l, max(from, l.EarliestOffset()), func(rec segment.Record) error {
		if rec.Offset >= to {
			return errStopScan
		}
		n += recordBytes(rec)
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return 0, fmt.Errorf("count trimmed bytes: %w", err)
	}
	return n, nil
}
