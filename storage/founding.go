package storage

import (
	"context"
	"log/slog"

	"github.com/flowmesh/flowmesh"
)

// The founding API: the embedding program's entry points exactly as the
// founding document writes them (New, NewBuilder ... BuildAndStart,
// NewResourceFactory(s.MetaStore()), s.StreamManager(), s.QueueManager(),
// s.KVManager(), RemoveFromInFlight). It is a façade and nothing more:
// every method here hands out a view of the node or calls the node's own
// method set (contract.go), which is also what the gRPC server takes. No
// logic lives here, and nothing below the node (the wire, the FSM) is
// shaped by it.

// Re-exported contract types, so embedding programs need only this package.
type (
	StreamEvent         = flowmesh.StreamEvent
	Message             = flowmesh.Message
	Position            = flowmesh.Position
	Job                 = flowmesh.Job
	Receipt             = flowmesh.Receipt
	QueueEnqueueOptions = flowmesh.QueueEnqueueOptions
	QueueStats          = flowmesh.QueueStats
	KVEntry             = flowmesh.KVEntry
	KVEvent             = flowmesh.KVEvent
	KVPutOptions        = flowmesh.KVPutOptions
	KVDeleteOptions     = flowmesh.KVDeleteOptions
	Resource            = flowmesh.Resource
	StreamManager       = flowmesh.StreamManager
	QueueManager        = flowmesh.QueueManager
	KVManager           = flowmesh.KVManager
	ResourceManager     = flowmesh.ResourceManager
)

// Lifecycle is something that starts and stops.
type Lifecycle interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// StorageBackend is what an embedding program uses: the lifecycle, the
// resource metadata and the three managers.
type StorageBackend interface {
	Lifecycle
	MetaStore() *MetaStore
	StreamManager() StreamManager
	QueueManager() QueueManager
	KVManager() KVManager
}

var _ StorageBackend = (*Storage)(nil)

// New returns a node with the default configuration and dataDir. Call Start.
func New(dataDir string) (*Storage, error) {
	cfg := DefaultConfig()
	cfg.DataDir = dataDir
	return NewWithConfig(cfg)
}

// Builder is a fluent layer over Config; it holds no logic of its own.
type Builder struct {
	cfg Config
}

// NewBuilder starts from DefaultConfig.
func NewBuilder() *Builder { return &Builder{cfg: *DefaultConfig()} }

// WithDataDir sets the data directory.
func (b *Builder) WithDataDir(dir string) *Builder { b.cfg.DataDir = dir; return b }

// WithConfig replaces the configuration, keeping a data directory set before.
func (b *Builder) WithConfig(c *Config) *Builder {
	dir := b.cfg.DataDir
	b.cfg = *c
	if b.cfg.DataDir == "" || b.cfg.DataDir == DefaultConfig().DataDir {
		if dir != "" {
			b.cfg.DataDir = dir
		}
	}
	return b
}

// WithLogger sets the logger.
func (b *Builder) WithLogger(l *slog.Logger) *Builder { b.cfg.Logger = l; return b }

// Build returns a node that is not started.
func (b *Builder) Build() (*Storage, error) { return NewWithConfig(&b.cfg) }

// BuildAndStart builds the node and starts it.
func (b *Builder) BuildAndStart(ctx context.Context) (*Storage, error) {
	s, err := b.Build()
	if err != nil {
		return nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// MetaStore is a view of the node's resource metadata: it creates, finds,
// lists and deletes streams, queues and KV stores (flowmesh.ResourceManager),
// by the node's own methods.
type MetaStore struct{ s *Storage }

var _ flowmesh.ResourceManager = (*MetaStore)(nil)

// ResourceFactory creates resources; it is the founding API's entry point.
type ResourceFactory struct{ *MetaStore }

// NewResourceFactory returns a factory over a node's MetaStore.
func NewResourceFactory(m *MetaStore) *ResourceFactory { return &ResourceFactory{MetaStore: m} }

// MetaStore returns the view of the node's resource metadata.
func (s *Storage) MetaStore() *MetaStore { return &MetaStore{s: s} }

// StreamManager returns the node as its stream API.
func (s *Storage) StreamManager() StreamManager { return s }

// QueueManager returns the node as its queue API.
func (s *Storage) QueueManager() QueueManager { return s }

// KVManager returns the node as its KV API (also a flowmesh.TxnManager).
func (s *Storage) KVManager() KVManager { return s }

// CreateStream creates a stream with partitions partitions.
func (m *MetaStore) CreateStream(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.StreamOption) (*flowmesh.Resource, error) {
	return m.s.CreateStream(ctx, tenant, namespace, name, partitions, opts...)
}

// CreateQueue creates a work queue; partitions must be 0 or 1 (a queue is
// one FIFO), refused as InvalidArgument otherwise.
func (m *MetaStore) CreateQueue(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.QueueOption) (*flowmesh.Resource, error) {
	return m.s.CreateQueue(ctx, tenant, namespace, name, partitions, opts...)
}

// CreateKVStore creates a KV store.
func (m *MetaStore) CreateKVStore(ctx context.Context, tenant, namespace, name string, opts ...flowmesh.KVOption) (*flowmesh.Resource, error) {
	return m.s.CreateKVStore(ctx, tenant, namespace, name, opts...)
}

// GetResource returns the resource at path.
func (m *MetaStore) GetResource(ctx context.Context, path string) (*flowmesh.Resource, error) {
	return m.s.GetResource(ctx, path)
}

// ListResources lists a tenant's resources, of one namespace unless
// namespace is "".
func (m *MetaStore) ListResources(ctx context.Context, tenant, namespace string) ([]*flowmesh.Resource, error) {
	return m.s.ListResources(ctx, tenant, namespace)
}

// DeleteResource deletes the resource at path.
func (m *MetaStore) DeleteResource(ctx context.Context, path string) error {
	return m.s.DeleteResource(ctx, path)
}

// RemoveFromInFlight is the founding API's ack. Its job ID is the Job.ID a
// reservation returned, which names that reservation
// (flowmesh.ReservationID), so it acks that reservation's receipt and
// nothing else: a worker whose reservation expired is refused with
// ErrStaleReceipt while another worker holds the job, as with Ack. The
// FSM knows no unfenced ack.
func (s *Storage) RemoveFromInFlight(ctx context.Context, path, jobID string, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateRemoveFromInFlight(jobID); err != nil {
		return err
	}
	return s.ack(ctx, path, flowmesh.ParseReservationID(jobID), opts)
}
