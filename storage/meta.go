package storage

import (
	"context"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func (s *Storage) create(ctx context.Context, r *flowmesh.Resource) (*flowmesh.Resource, error) {
	pb := fsm.ResourceToPB(r)
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_CreateResource{CreateResource: &fsmpb.CreateResource{Resource: pb}}}, resourceCallOptions(ctx))
	if err != nil {
		return nil, err
	}
	return res.Resource, nil
}

// CreateStream creates a stream with partitions partitions.
func (s *Storage) CreateStream(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.StreamOption) (*flowmesh.Resource, error) {
	cfg := flowmesh.StreamConfig{Partitions: partitions}
	for _, o := range opts {
		o(&cfg)
	}
	cfg.Partitions = partitions
	if err := flowmesh.ValidateCreateStream(tenant, namespace, name, cfg); err != nil {
		return nil, err
	}
	return s.create(ctx, &flowmesh.Resource{Tenant: tenant, Namespace: namespace, Name: name, Kind: flowmesh.KindStream, Stream: &cfg})
}

// CreateQueue creates a work queue; partitions must be 1 (0 means 1).
func (s *Storage) CreateQueue(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.QueueOption) (*flowmesh.Resource, error) {
	cfg := flowmesh.QueueConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if err := flowmesh.ValidateCreateQueue(tenant, namespace, name, partitions, cfg); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	return s.create(ctx, &flowmesh.Resource{Tenant: tenant, Namespace: namespace, Name: name, Kind: flowmesh.KindQueue, Queue: &cfg})
}

// CreateKVStore creates a KV store.
func (s *Storage) CreateKVStore(ctx context.Context, tenant, namespace, name string, opts ...flowmesh.KVOption) (*flowmesh.Resource, error) {
	cfg := flowmesh.KVConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if err := flowmesh.ValidateCreateKVStore(tenant, namespace, name, cfg); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	return s.create(ctx, &flowmesh.Resource{Tenant: tenant, Namespace: namespace, Name: name, Kind: flowmesh.KindKV, KV: &cfg})
}

// GetResource returns the resource at path (linearizable).
func (s *Storage) GetResource(ctx context.Context, path string) (*flowmesh.Resource, error) {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return nil, err
	}
	f, err := s.read(ctx, nil)
	if err != nil {
		return nil, err
	}
	return f.Resource(path)
}

// ListResources lists a tenant's resources; namespace "" lists all namespaces.
func (s *Storage) ListResources(ctx context.Context, tenant, namespace string) ([]*flowmesh.Resource, error) {
	if err := flowmesh.ValidateListResources(tenant, namespace); err != nil {
		return nil, err
	}
	f, err := s.read(ctx, nil)
	if err != nil {
		return nil, err
	}
	return f.Resources(tenant, namespace), nil
}

// LocalResources lists every tenant's resources as this node holds them,
// sorted by path (for /metrics; no consistency wait).
func (s *Storage) LocalResources() []*flowmesh.Resource {
	f, _, err := s.running()
	if err != nil {
		return nil
	}
	return f.AllResources()
}

// QueueCounters says how many reservations of the queue at path were
// redeliveries (attempt > 1) and how many of its jobs went dead, as this node
// applied them since it started (for /metrics; fsm.FSM.QueueCounters).
func (s *Storage) QueueCounters(path string) (redelivered, dead uint64, err error) {
	f, _, err := s.running()
	if err != nil {
		return 0, 0, err
	}
	return f.QueueCounters(path)
}

// DeleteResource deletes the resource and its data.
func (s *Storage) DeleteResource(ctx context.Context, path string) error {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return err
	}
	_, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_DeleteResource{DeleteResource: &fsmpb.DeleteResource{Path: path}}}, resourceCallOptions(ctx))
	return err
}

// resourceCallOptions carries the request ID of flowmesh.ContextWithRequestID:
// ResourceManager's methods take no CallOptions, and the FSM deduplicates a
// create or delete with one like any other write.
func resourceCallOptions(ctx context.Context) flowmesh.CallOptions {
	return flowmesh.CallOptions{RequestID: flowmesh.RequestIDFromContext(ctx)}
}
