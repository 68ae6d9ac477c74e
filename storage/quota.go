package storage

import (
	"context"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// SetQuota merges the set fields of limits into tenant's quota (after
// clearing it when reset is true); tenant flowmesh.DefaultQuotaTenant ("*")
// is the cluster default. It is a raft command: every replica enforces the
// same limits.
func (s *Storage) SetQuota(ctx context.Context, tenant string, limits flowmesh.QuotaLimits, reset bool) (flowmesh.TenantQuota, error) {
	if err := flowmesh.ValidateSetQuota(tenant, limits); err != nil {
		return flowmesh.TenantQuota{}, err
	}
	c := &fsmpb.SetQuota{Tenant: tenant, Limits: fsm.QuotaLimitsToPB(limits), Reset_: reset}
	if _, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_SetQuota{SetQuota: c}}, flowmesh.CallOptions{}); err != nil {
		return flowmesh.TenantQuota{}, err
	}
	return s.Quota(ctx, tenant)
}

var _ flowmesh.QuotaManager = (*Storage)(nil)

// Quota reports tenant's quota and use (a linearizable read).
func (s *Storage) Quota(ctx context.Context, tenant string) (flowmesh.TenantQuota, error) {
	if err := flowmesh.ValidateQuotaTenant(tenant); err != nil {
		return flowmesh.TenantQuota{}, err
	}
	f, err := s.read(ctx, nil)
	if err != nil {
		return flowmesh.TenantQuota{}, err
	}
	return f.Quota(tenant), nil
}

// QuotaUsage returns every tenant's use on this node, sorted by tenant
// (for /metrics; no consistency wait).
func (s *Storage) QuotaUsage() ([]string, []flowmesh.QuotaValues) {
	f, _, err := s.running()
	if err != nil {
		return nil, nil
	}
	return f.Usage()
}

// QuotaLimits returns tenant's effective limits on this node (no
// consistency wait).
func (s *Storage) QuotaLimits(tenant string) flowmesh.QuotaValues {
	f, _, err := s.running()
	if err != nil {
		return flowmesh.QuotaValues{}
	}
	return f.Quota(tenant).Limits
}

// Memory returns the memory-resident state's charge, all tenants together,
// and the cluster-wide memory quota in force (0: unlimited), as this node
// holds them (for /metrics; no consistency wait).
func (s *Storage) Memory() (use, limit int64) {
	f, _, err := s.running()
	if err != nil {
		return 0, 0
	}
	return f.Memory()
}

// proposeDefaultQuota makes the cluster default quota hold the fields set
// in Config.DefaultQuota. A new leader does it once: until the next
// election, SetQuota of "*" may change the default.
func (s *Storage) proposeDefaultQuota() bool {
	want := s.cfg.DefaultQuota
	have := s.fsm.Quota(flowmesh.DefaultQuotaTenant).Set
	var diff flowmesh.QuotaLimits
	changed := false
	for _, p := range []struct {
		want, have *int64
		dst        **int64
	}{
		{want.StoredBytes, have.StoredBytes, &diff.StoredBytes},
		{want.Resources, have.Resources, &diff.Resources},
		{want.Partitions, have.Partitions, &diff.Partitions},
		{want.KVKeys, have.KVKeys, &diff.KVKeys},
		{want.QueueJobs, have.QueueJobs, &diff.QueueJobs},
		{want.MemoryBytes, have.MemoryBytes, &diff.MemoryBytes},
	} {
		if p.want != nil && (p.have == nil || *p.have != *p.want) {
			*p.dst, changed = p.want, true
		}
	}
	if !changed {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.SetQuota(ctx, flowmesh.DefaultQuotaTenant, diff, false); err != nil {
		s.log.Warn("could not propose the default quota", "err", err)
		return false
	}
	s.log.Info("proposed the default quota from this node's configuration")
	return true
}
