package storage

import (
	"context"
	"time"

	"github.com/flowmesh/flowmesh"
)

// A *Storage is itself every contract interface of the root package, as
// *client.Client is, so one value serves where a program (or rpc.Parts)
// wants any of them, and code written against the interfaces runs on an
// embedded node or over the network unchanged. The founding API's
// accessors (MetaStore, StreamManager, QueueManager, KVManager) stay and
// return views of the same node: both ways call the same code.
var (
	_ flowmesh.ResourceManager = (*Storage)(nil)
	_ flowmesh.StreamManager   = (*Storage)(nil)
	_ flowmesh.QueueManager    = (*Storage)(nil)
	_ flowmesh.QueueBatcher    = (*Storage)(nil)
	_ flowmesh.KVManager       = (*Storage)(nil)
	_ flowmesh.QuotaManager    = (*Storage)(nil)
)

// Resources (flowmesh.ResourceManager).

func (s *Storage) CreateStream(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.StreamOption) (*flowmesh.Resource, error) {
	return s.meta.CreateStream(ctx, tenant, namespace, name, partitions, opts...)
}

func (s *Storage) CreateQueue(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.QueueOption) (*flowmesh.Resource, error) {
	return s.meta.CreateQueue(ctx, tenant, namespace, name, partitions, opts...)
}

func (s *Storage) CreateKVStore(ctx context.Context, tenant, namespace, name string, opts ...flowmesh.KVOption) (*flowmesh.Resource, error) {
	return s.meta.CreateKVStore(ctx, tenant, namespace, name, opts...)
}

func (s *Storage) GetResource(ctx context.Context, path string) (*flowmesh.Resource, error) {
	return s.meta.GetResource(ctx, path)
}

func (s *Storage) ListResources(ctx context.Context, tenant, namespace string) ([]*flowmesh.Resource, error) {
	return s.meta.ListResources(ctx, tenant, namespace)
}

func (s *Storage) DeleteResource(ctx context.Context, path string) error {
	return s.meta.DeleteResource(ctx, path)
}

// Streams (flowmesh.StreamManager).

func (s *Storage) WriteEvents(ctx context.Context, path string, events []flowmesh.StreamEvent, opts ...flowmesh.CallOption) ([]flowmesh.Position, error) {
	return s.streams.WriteEvents(ctx, path, events, opts...)
}

func (s *Storage) ReadFromOffset(ctx context.Context, path string, partition int, offset uint64, max int, opts ...flowmesh.CallOption) ([]flowmesh.Message, error) {
	return s.streams.ReadFromOffset(ctx, path, partition, offset, max, opts...)
}

func (s *Storage) Subscribe(ctx context.Context, path string, partition int, offset uint64, fn func(flowmesh.Message) error) error {
	return s.streams.Subscribe(ctx, path, partition, offset, fn)
}

func (s *Storage) CommitOffset(ctx context.Context, path, group string, partition int, offset uint64, opts ...flowmesh.CallOption) error {
	return s.streams.CommitOffset(ctx, path, group, partition, offset, opts...)
}

func (s *Storage) FetchOffset(ctx context.Context, path, group string, partition int, opts ...flowmesh.CallOption) (uint64, error) {
	return s.streams.FetchOffset(ctx, path, group, partition, opts...)
}

func (s *Storage) PartitionInfo(ctx context.Context, path string, partition int, opts ...flowmesh.CallOption) (flowmesh.PartitionInfo, error) {
	return s.streams.PartitionInfo(ctx, path, partition, opts...)
}

// Queues (flowmesh.QueueManager and flowmesh.QueueBatcher).

func (s *Storage) Enqueue(ctx context.Context, path string, payload []byte, opts flowmesh.QueueEnqueueOptions, callOpts ...flowmesh.CallOption) (string, uint64, error) {
	return s.queues.Enqueue(ctx, path, payload, opts, callOpts...)
}

func (s *Storage) Reserve(ctx context.Context, path string, visibility time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	return s.queues.Reserve(ctx, path, visibility, opts...)
}

func (s *Storage) ReserveWait(ctx context.Context, path string, visibility, wait time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	return s.queues.ReserveWait(ctx, path, visibility, wait, opts...)
}

func (s *Storage) RemoveFromInFlight(ctx context.Context, path, jobID string, opts ...flowmesh.CallOption) error {
	return s.queues.RemoveFromInFlight(ctx, path, jobID, opts...)
}

func (s *Storage) Ack(ctx context.Context, path string, r flowmesh.Receipt, opts ...flowmesh.CallOption) error {
	return s.queues.Ack(ctx, path, r, opts...)
}

func (s *Storage) Nack(ctx context.Context, path string, r flowmesh.Receipt, delay time.Duration, opts ...flowmesh.CallOption) error {
	return s.queues.Nack(ctx, path, r, delay, opts...)
}

func (s *Storage) Touch(ctx context.Context, path string, r flowmesh.Receipt, visibility time.Duration, opts ...flowmesh.CallOption) error {
	return s.queues.Touch(ctx, path, r, visibility, opts...)
}

func (s *Storage) Stats(ctx context.Context, path string, opts ...flowmesh.CallOption) (flowmesh.QueueStats, error) {
	return s.queues.Stats(ctx, path, opts...)
}

func (s *Storage) Purge(ctx context.Context, path string, opts ...flowmesh.CallOption) (int, error) {
	return s.queues.Purge(ctx, path, opts...)
}

func (s *Storage) ListDead(ctx context.Context, path string, limit int, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	return s.queues.ListDead(ctx, path, limit, opts...)
}

func (s *Storage) Redrive(ctx context.Context, path string, max int, opts ...flowmesh.CallOption) (int, error) {
	return s.queues.Redrive(ctx, path, max, opts...)
}

func (s *Storage) EnqueueBatch(ctx context.Context, path string, jobs []flowmesh.EnqueueItem, opts ...flowmesh.CallOption) ([]flowmesh.EnqueuedJob, error) {
	return s.queues.EnqueueBatch(ctx, path, jobs, opts...)
}

func (s *Storage) ReserveBatch(ctx context.Context, path string, max int, visibility time.Duration, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	return s.queues.ReserveBatch(ctx, path, max, visibility, opts...)
}

func (s *Storage) ReserveBatchWait(ctx context.Context, path string, max int, visibility, wait time.Duration, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	return s.queues.ReserveBatchWait(ctx, path, max, visibility, wait, opts...)
}

func (s *Storage) AckBatch(ctx context.Context, path string, receipts []flowmesh.Receipt, opts ...flowmesh.CallOption) ([]error, error) {
	return s.queues.AckBatch(ctx, path, receipts, opts...)
}

// KV (flowmesh.KVManager).

func (s *Storage) Put(ctx context.Context, path, key string, value []byte, opts flowmesh.KVPutOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	return s.kv.Put(ctx, path, key, value, opts, callOpts...)
}

func (s *Storage) Get(ctx context.Context, path, key string, opts ...flowmesh.CallOption) (flowmesh.KVEntry, error) {
	return s.kv.Get(ctx, path, key, opts...)
}

func (s *Storage) Delete(ctx context.Context, path, key string, opts flowmesh.KVDeleteOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	return s.kv.Delete(ctx, path, key, opts, callOpts...)
}

func (s *Storage) List(ctx context.Context, path, prefix, after string, limit int, opts ...flowmesh.CallOption) ([]flowmesh.KVEntry, error) {
	return s.kv.List(ctx, path, prefix, after, limit, opts...)
}

func (s *Storage) Watch(ctx context.Context, path, prefix string, fromRevision uint64, fn func(flowmesh.KVEvent) error) error {
	return s.kv.Watch(ctx, path, prefix, fromRevision, fn)
}

// NextRevision is the revision a Watch from 0 on path starts at in this
// node's state (rpc.NextRevisioner: with it the server reports where a
// watch starts).
func (s *Storage) NextRevision(ctx context.Context, path string) (uint64, error) {
	return s.kv.NextRevision(ctx, path)
}
