package main

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/flowmesh/flowmesh"
)

// tenantTracker is the node's ResourceManager, remembering every tenant
// named in a successful call so the metrics can list its resources.
type tenantTracker struct {
	flowmesh.ResourceManager

	mu      sync.Mutex
	tenants map[string]struct{}
}

func newTenantTracker(rm flowmesh.ResourceManager) *tenantTracker {
	return &tenantTracker{ResourceManager: rm, tenants: map[string]struct{}{}}
}

func (t *tenantTracker) see(tenant string) {
	t.mu.Lock()
	t.tenants[tenant] = struct{}{}
	t.mu.Unlock()
}

// Tenants returns the tenants seen, sorted.
func (t *tenantTracker) Tenants() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.tenants))
	for k := range t.tenants {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (t *tenantTracker) CreateStream(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.StreamOption) (*flowmesh.Resource, error) {
	r, err := t.ResourceManager.CreateStream(ctx, tenant, namespace, name, partitions, opts...)
	t.seeResult(err, tenant)
	return r, err
}

func (t *tenantTracker) CreateQueue(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.QueueOption) (*flowmesh.Resource, error) {
	r, err := t.ResourceManager.CreateQueue(ctx, tenant, namespace, name, partitions, opts...)
	t.seeResult(err, tenant)
	return r, err
}

func (t *tenantTracker) CreateKVStore(ctx context.Context, tenant, namespace, name string, opts ...flowmesh.KVOption) (*flowmesh.Resource, error) {
	r, err := t.ResourceManager.CreateKVStore(ctx, tenant, namespace, name, opts...)
	t.seeResult(err, tenant)
	return r, err
}

func (t *tenantTracker) GetResource(ctx context.Context, path string) (*flowmesh.Resource, error) {
	r, err := t.ResourceManager.GetResource(ctx, path)
	if err == nil {
		t.see(r.Tenant)
	}
	return r, err
}

func (t *tenantTracker) ListResources(ctx context.Context, tenant, namespace string) ([]*flowmesh.Resource, error) {
	rs, err := t.ResourceManager.ListResources(ctx, tenant, namespace)
	if err == nil && len(rs) > 0 {
		t.see(tenant)
	}
	return rs, err
}

// seeResult records tenant after a create that succeeded or found the
// resource already there.
func (t *tenantTracker) seeResult(err error, tenant string) {
	if err == nil || errors.Is(err, flowmesh.ErrAlreadyExists) {
		t.see(tenant)
	}
}
