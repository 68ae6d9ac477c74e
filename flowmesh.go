// Package flowmesh is the public contract of FlowMesh: the value types, the
// StreamManager, QueueManager, KVManager and ResourceManager interfaces, the
// per-call options and the sentinel errors. The embedded node (package storage)
// and the network client (package client) implement the same interfaces, so a
// program can switch between them without other changes.
//
// This package depends on the standard library only.
package flowmesh

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// Kind is the kind of a resource.
//
// Stored in the Raft log and in snapshots: values are append-only, never renumber.
type Kind int32

const (
	KindUnknown Kind = 0
	KindStream  Kind = 1
	KindQueue   Kind = 2
	KindKV      Kind = 3
)

func (k Kind) String() string {
	switch k {
	case KindStream:
		return "stream"
	case KindQueue:
		return "queue"
	case KindKV:
		return "kv"
	}
	return "unknown"
}

// StreamConfig configures a stream. Zero retention values mean unlimited.
type StreamConfig struct {
	Partitions int           // number of partitions, 1..MaxPartitions
	MaxAge     time.Duration // delete whole segments older than this
	MaxBytes   int64         // per partition; delete oldest segments beyond this
}

// QueueConfig configures a work queue. Zero values take the defaults.
type QueueConfig struct {
	VisibilityTimeout time.Duration // default reservation length (DefaultVisibilityTimeout)
	MaxAttempts       int           // reservations before a job is dead (0 = DefaultMaxAttempts)
	DeadLetterQueue   string        // path of a queue that receives dead jobs; "" keeps them here, marked dead
	MaxPayload        int           // per-job payload limit, at most MaxPayloadSize (0 = MaxPayloadSize)
}

// KVConfig configures a KV store.
type KVConfig struct {
	// HistoryRevisions is how many past changes are retained for Watch
	// (0 = DefaultKVHistory). Older revisions are compacted.
	HistoryRevisions int
}

// Resource describes a stream, queue or KV store.
type Resource struct {
	Tenant    string
	Namespace string
	Name      string
	Kind      Kind
	CreatedAt time.Time
	Revision  uint64 // raft index of the create command
	Stream    *StreamConfig
	Queue     *QueueConfig
	KV        *KVConfig
}

// GetPath returns "tenant/namespace/name".
func (r *Resource) GetPath() string { return JoinPath(r.Tenant, r.Namespace, r.Name) }

// ResourceManager creates, finds and deletes resources.
type ResourceManager interface {
	CreateStream(ctx context.Context, tenant, namespace, name string, partitions int, opts ...StreamOption) (*Resource, error)
	// CreateQueue creates a work queue. partitions must be 1 (or 0, meaning 1):
	// a queue is a single FIFO; the argument keeps the founding API's shape.
	CreateQueue(ctx context.Context, tenant, namespace, name string, partitions int, opts ...QueueOption) (*Resource, error)
	CreateKVStore(ctx context.Context, tenant, namespace, name string, opts ...KVOption) (*Resource, error)
	GetResource(ctx context.Context, path string) (*Resource, error)
	// ListResources lists a tenant's resources; namespace "" lists all namespaces.
	ListResources(ctx context.Context, tenant, namespace string) ([]*Resource, error)
	// DeleteResource removes the resource and its data.
	DeleteResource(ctx context.Context, path string) error
}

// StreamOption adjusts a StreamConfig at creation.
type StreamOption func(*StreamConfig)

// WithRetention sets a stream's retention; zero values mean unlimited.
func WithRetention(maxAge time.Duration, maxBytes int64) StreamOption {
	return func(c *StreamConfig) { c.MaxAge, c.MaxBytes = maxAge, maxBytes }
}

// QueueOption adjusts a QueueConfig at creation.
type QueueOption func(*QueueConfig)

func WithVisibilityTimeout(d time.Duration) QueueOption {
	return func(c *QueueConfig) { c.VisibilityTimeout = d }
}
func WithMaxAttempts(n int) QueueOption        { return func(c *QueueConfig) { c.MaxAttempts = n } }
func WithDeadLetterQueue(p string) QueueOption { return func(c *QueueConfig) { c.DeadLetterQueue = p } }
func WithMaxPayload(n int) QueueOption         { return func(c *QueueConfig) { c.MaxPayload = n } }

// KVOption adjusts a KVConfig at creation.
type KVOption func(*KVConfig)

func WithHistory(revisions int) KVOption { return func(c *KVConfig) { c.HistoryRevisions = revisions } }

// StreamEvent is one event to append.
type StreamEvent struct {
	Payload []byte
	Headers map[string]string
	// Key, when set, routes the event by hash to a partition (stable for a
	// given partition count). Otherwise the event goes to Partition.
	Key       string
	Partition int
}

// Position is where an appended event landed.
type Position struct {
	Partition int
	Offset    uint64
}

// Message is an event read back from a stream.
type Message struct {
	Partition int
	Offset    uint64
	Timestamp time.Time // stamped by the leader when the write committed
	Key       string
	Payload   []byte
	Headers   map[string]string
}

// StreamManager appends to and reads from streams.
type StreamManager interface {
	// WriteEvents appends the batch atomically and returns one position per event.
	WriteEvents(ctx context.Context, path string, events []StreamEvent, opts ...CallOption) ([]Position, error)
	// ReadFromOffset reads up to max messages of a partition from offset.
	// Below the retained range it returns an *OffsetOutOfRangeError; at the
	// end it returns no messages and no error.
	ReadFromOffset(ctx context.Context, path string, partition int, offset uint64, max int, opts ...CallOption) ([]Message, error)
	// Subscribe calls fn for every message of the partition from offset on,
	// as they commit, until ctx ends (returning ctx.Err()) or fn returns an error.
	Subscribe(ctx context.Context, path string, partition int, offset uint64, fn func(Message) error) error
	// CommitOffset records a consumer group's next offset for a partition.
	CommitOffset(ctx context.Context, path, group string, partition int, offset uint64, opts ...CallOption) error
	// FetchOffset returns a group's committed offset, or ErrNotFound.
	FetchOffset(ctx context.Context, path, group string, partition int, opts ...CallOption) (uint64, error)
	// PartitionInfo returns the retained range [Earliest, Next) of a partition.
	PartitionInfo(ctx context.Context, path string, partition int, opts ...CallOption) (PartitionInfo, error)
}

// PartitionInfo is the retained range of a stream partition.
type PartitionInfo struct {
	Partition int
	Earliest  uint64
	Next      uint64
	Bytes     int64
}

// Lag is how many retained events a consumer whose next offset is
// committed has yet to read: from committed (or from Earliest, when
// retention removed what it had not read) to Next. A group with no
// committed offset reads from 0, so its lag is Lag(0).
func (p PartitionInfo) Lag(committed uint64) uint64 {
	if from := max(committed, p.Earliest); p.Next > from {
		return p.Next - from
	}
	return 0
}

// QueueEnqueueOptions are per-job options.
type QueueEnqueueOptions struct {
	Delay time.Duration // the job becomes ready this long after it commits
	// DedupID makes the enqueue idempotent: a repeat within the dedup window
	// returns the original job ID and sequence.
	DedupID string
}

// Receipt names one reservation of a job. Acks and nacks must present the
// receipt of the current reservation; an older one is refused with ErrStaleReceipt.
type Receipt struct {
	JobID   string
	Attempt int
}

// ReservationID is the ID a reservation returns in Job.ID: the job's ID
// as Enqueue returned it for a first delivery (attempt 1), the job's ID
// and the attempt ("<id>:<attempt>") for a redelivery. So the ID names
// the reservation, and RemoveFromInFlight(job.ID) is fenced as
// Ack(job.Receipt) is: a holder whose reservation expired is refused with
// ErrStaleReceipt even while another worker holds the job. Job IDs never
// contain ':'.
func ReservationID(r Receipt) string {
	if r.Attempt <= 1 {
		return r.JobID
	}
	return r.JobID + ":" + strconv.Itoa(r.Attempt)
}

// ParseReservationID is the receipt ReservationID encoded in id. An ID
// without an attempt names the first reservation (attempt 1).
func ParseReservationID(id string) Receipt {
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		if a, err := strconv.Atoi(id[i+1:]); err == nil && a > 1 {
			return Receipt{JobID: id[:i], Attempt: a}
		}
	}
	return Receipt{JobID: id, Attempt: 1}
}

// Job is a reserved (or dead) job.
type Job struct {
	// ID names the job. A job returned by a reservation carries
	// ReservationID(Receipt), which names that reservation: it equals the
	// Enqueue ID on the first delivery and adds the attempt on a
	// redelivery. Receipt.JobID is always the job's own ID; use it to
	// recognise the same job across deliveries.
	ID           string
	Seq          uint64
	Payload      []byte
	Attempt      int // 1 on first reservation
	EnqueuedAt   time.Time
	VisibleUntil time.Time // end of the current reservation
	Receipt      Receipt
}

// QueueStats counts a queue's jobs.
type QueueStats struct {
	Ready, Delayed, InFlight, Dead int
	OldestReadyAge                 time.Duration
}

// QueueManager is the work-queue API.
type QueueManager interface {
	Enqueue(ctx context.Context, path string, payload []byte, opts QueueEnqueueOptions, callOpts ...CallOption) (jobID string, seq uint64, err error)
	// Reserve returns the oldest ready job reserved for visibility (0 = the
	// queue's default), or a nil job when none is ready.
	Reserve(ctx context.Context, path string, visibility time.Duration, opts ...CallOption) (*Job, error)
	// ReserveWait is Reserve that waits up to wait for a job to become ready.
	ReserveWait(ctx context.Context, path string, visibility, wait time.Duration, opts ...CallOption) (*Job, error)
	// RemoveFromInFlight acknowledges the reservation named by jobID, a
	// Job.ID as a reservation returned it (see ReservationID): it is
	// Ack(ParseReservationID(jobID)), refused with ErrStaleReceipt once
	// that reservation is no longer the job's current one.
	RemoveFromInFlight(ctx context.Context, path, jobID string, opts ...CallOption) error
	Ack(ctx context.Context, path string, receipt Receipt, opts ...CallOption) error
	// Nack releases the reservation; the job is ready again after delay.
	Nack(ctx context.Context, path string, receipt Receipt, delay time.Duration, opts ...CallOption) error
	// Touch extends the reservation to visibility from now.
	Touch(ctx context.Context, path string, receipt Receipt, visibility time.Duration, opts ...CallOption) error
	Stats(ctx context.Context, path string, opts ...CallOption) (QueueStats, error)
	// Purge removes every job that is not in flight; it returns how many.
	Purge(ctx context.Context, path string, opts ...CallOption) (int, error)
	// ListDead returns up to limit dead jobs in sequence order (limit 0:
	// MaxReadMessages).
	ListDead(ctx context.Context, path string, limit int, opts ...CallOption) ([]Job, error)
	// Redrive makes up to max dead jobs ready again (max <= 0: all).
	Redrive(ctx context.Context, path string, max int, opts ...CallOption) (int, error)
}

// KVPutOptions are Put's conditions.
type KVPutOptions struct {
	// IfRevision, when set, makes the put conditional: the key's current
	// revision must equal *IfRevision; 0 means "must not exist".
	IfRevision *uint64
	TTL        time.Duration // 0 = no expiry
}

// KVDeleteOptions are Delete's conditions.
type KVDeleteOptions struct {
	IfRevision *uint64
}

// Rev returns a pointer to r, for KVPutOptions.IfRevision.
func Rev(r uint64) *uint64 { return &r }

// KVEntry is a key's current value.
type KVEntry struct {
	Key            string
	Value          []byte
	Revision       uint64 // raft index of the last change
	CreateRevision uint64
	ExpiresAt      time.Time // zero when the key has no TTL
}

// KVEventType is the kind of a KV change.
type KVEventType int32

// Stored in the Raft log and snapshots: append-only.
const (
	KVEventPut    KVEventType = 1
	KVEventDelete KVEventType = 2
	KVEventExpire KVEventType = 3
)

func (t KVEventType) String() string {
	switch t {
	case KVEventPut:
		return "put"
	case KVEventDelete:
		return "delete"
	case KVEventExpire:
		return "expire"
	}
	return "unknown"
}

// KVEvent is one change seen by Watch.
type KVEvent struct {
	Type     KVEventType
	Key      string
	Value    []byte // nil for deletes and expiries
	Revision uint64
}

// KVManager is the key-value API.
type KVManager interface {
	Put(ctx context.Context, path, key string, value []byte, opts KVPutOptions, callOpts ...CallOption) (uint64, error)
	Get(ctx context.Context, path, key string, opts ...CallOption) (KVEntry, error)
	Delete(ctx context.Context, path, key string, opts KVDeleteOptions, callOpts ...CallOption) (uint64, error)
	// List returns up to limit entries with the prefix whose key is > after, in key order.
	List(ctx context.Context, path, prefix, after string, limit int, opts ...CallOption) ([]KVEntry, error)
	// Watch calls fn for every change under prefix with revision >= fromRevision
	// (0 = from now on), in revision order, until ctx ends or fn returns an error.
	// A compacted fromRevision gives a *CompactedError.
	Watch(ctx context.Context, path, prefix string, fromRevision uint64, fn func(KVEvent) error) error
}

// Consistency is a read's consistency level.
type Consistency int32

const (
	// Linearizable reads see every write acknowledged before they began (read-index).
	Linearizable Consistency = 0
	// Leader reads are served by the node that believes it leads, without a quorum check.
	Leader Consistency = 1
	// Stale reads are served from any node's local state.
	Stale Consistency = 2
)

// CallOptions collects the per-call options. Implementations read it with ApplyCallOptions.
type CallOptions struct {
	RequestID    string // idempotency key of a write
	ProducerID   string // with ProducerSeq: idempotent stream producer
	ProducerSeq  uint64
	Consistency  Consistency
	MaxStaleness time.Duration // for Stale reads; 0 = any
}

// CallOption is a per-call option.
type CallOption func(*CallOptions)

// WithRequestID makes a write idempotent: a repeat with the same ID within
// the dedup window returns the first result and changes nothing.
func WithRequestID(id string) CallOption { return func(o *CallOptions) { o.RequestID = id } }

// WithProducer makes stream writes idempotent per producer: a repeated
// (producer, seq) within the dedup window returns the original offsets.
func WithProducer(id string, seq uint64) CallOption {
	return func(o *CallOptions) { o.ProducerID, o.ProducerSeq = id, seq }
}

// WithConsistency sets a read's consistency level.
func WithConsistency(c Consistency) CallOption { return func(o *CallOptions) { o.Consistency = c } }

// WithMaxStaleness bounds how far behind a Stale read may be.
func WithMaxStaleness(d time.Duration) CallOption {
	return func(o *CallOptions) { o.Consistency, o.MaxStaleness = Stale, d }
}

// ApplyCallOptions folds opts into a CallOptions value.
func ApplyCallOptions(opts []CallOption) CallOptions {
	var o CallOptions
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// EnqueueItem is one job of an EnqueueBatch: its payload and the same
// per-job options as Enqueue (a DedupID is deduplicated per item).
type EnqueueItem struct {
	Payload []byte
	QueueEnqueueOptions
}

// EnqueuedJob is where one job of an EnqueueBatch went: its ID and sequence
// (the original ones when the item's DedupID repeated).
type EnqueuedJob struct {
	JobID string
	Seq   uint64
}

// QueueBatcher is the batched work-queue API: each call is one replicated
// command, so a batch costs about as much as a single job. The embedded node
// (package storage) and the network client implement it next to
// QueueManager; type-assert a QueueManager to find it.
//
// Limits: at most MaxQueueBatch jobs or receipts per call, and MaxBatchBytes
// of payload per EnqueueBatch; empty batches are refused with an
// *InvalidArgumentError. Semantics per job are those of the single calls.
type QueueBatcher interface {
	// EnqueueBatch adds the jobs atomically, in order (consecutive sequence
	// numbers apart from deduplicated items), and returns one result per item.
	EnqueueBatch(ctx context.Context, path string, jobs []EnqueueItem, opts ...CallOption) ([]EnqueuedJob, error)
	// ReserveBatch reserves up to max (1..MaxQueueBatch) of the oldest ready
	// jobs, in FIFO order, each for visibility (0 = the queue's default). It
	// returns fewer when fewer are ready (none: an empty slice and no error),
	// and stops early once the jobs' payloads reach MaxBatchBytes (at least
	// one job is returned).
	ReserveBatch(ctx context.Context, path string, max int, visibility time.Duration, opts ...CallOption) ([]Job, error)
	// ReserveBatchWait is ReserveBatch that waits up to wait for at least
	// one job to become ready; it returns as soon as one is.
	ReserveBatchWait(ctx context.Context, path string, max int, visibility, wait time.Duration, opts ...CallOption) ([]Job, error)
	// AckBatch acknowledges the receipts' reservations. It returns one error
	// per receipt (nil: acked), each the error Ack would have returned for
	// it alone (ErrStaleReceipt, ErrNotFound); a failing receipt does not
	// stop the others. The call's own error is for the whole batch
	// (arguments, the queue, the cluster).
	AckBatch(ctx context.Context, path string, receipts []Receipt, opts ...CallOption) ([]error, error)
}
