// Package flowmeshtest is the conformance suite of the FlowMesh contract: the
// behaviour of flowmesh.ResourceManager, StreamManager, QueueManager and
// KVManager that every implementation — the embedded node (package storage)
// and the network client (package client) — must share. It depends on the
// root package only, so any implementation can run it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		flowmeshtest.Run(t, func(t *testing.T) flowmeshtest.Target {
//			s := startNode(t) // fresh, empty, started; registers its own cleanup
//			return flowmeshtest.Target{
//				Resources: storage.NewResourceFactory(s.MetaStore()),
//				Streams:   s.StreamManager(),
//				Queues:    s.QueueManager(),
//				KV:        s.KVManager(),
//				Advance:   clock.Advance, // nil if the clock cannot be moved
//			}
//		})
//	}
//
// The target is one node, or a client of one: reads at every consistency
// level, Stale included, are expected to see writes already acknowledged,
// which a lagging follower would not.
//
// Run calls newTarget once per group (Resources, Streams, Queues,
// QueueBatches, KV). The subtests of a group share that target and run one
// after another, each in its own tenant named after the subtest, so they do
// not see each other's resources. A group whose manager is nil is skipped;
// QueueBatches is skipped when the Queues manager is not also a
// flowmesh.QueueBatcher.
//
// # Time
//
// The node decides delays, visibility timeouts, TTLs and retention from the
// leader-stamped time, never the local clock. Target.Advance moves that
// stamping clock forward; subtests that need it skip when it is nil. Effects
// that the leader applies through its own proposals (TTL expiry, retention)
// are awaited by bounded polling (10 s); everything else is checked
// directly after the call that causes it. Every wait in the suite is
// bounded, and every subtest runs under a 60 s context.
//
// # Coverage
//
// Resources: create, get, list (per tenant, namespace filter), delete (a
// resource re-created under a deleted name is empty, including consumer
// offsets); invalid tenant, namespace and name (empty, too long, bad
// characters) as *flowmesh.InvalidArgumentError naming the field; invalid
// configuration (partition counts, queue limits, missing or non-queue
// dead-letter queue); duplicates across kinds as ErrAlreadyExists; unknown
// paths as ErrNotFound and paths of another kind as ErrWrongKind for every
// method that takes a path.
//
// Streams: positions per event and consecutive offsets per partition;
// explicit partitions; stable, spread key routing; payload, headers, key and
// a single non-zero timestamp per batch read back; reads respecting max, at
// the end (empty, no error) and beyond it (*OffsetOutOfRangeError); empty
// batches, bad partitions, oversized keys and headers; limits at and over
// MaxPayloadSize, MaxBatchEvents and MaxBatchBytes with nothing written;
// atomic batches; idempotent writes by request ID and by producer sequence;
// Subscribe (history, then live, with no gap or repeat while writers run;
// ends with ctx or with the callback's error); consumer-group offsets; reads
// at every consistency level; concurrent writers each getting distinct,
// contiguous positions; with Advance: timestamps from the stamping clock and
// retention by MaxAge (Earliest moves, reads and subscriptions below it give
// *OffsetOutOfRangeError).
//
// Queues: job IDs and sequences; FIFO by sequence (also for nacked and
// redriven jobs); empty reserves; default and explicit visibility; delays;
// receipts (stale, unknown, other queue); RemoveFromInFlight; Nack with and
// without delay; dead jobs after MaxAttempts (by nack and by expiry),
// ListDead, Redrive, dead-letter queues; Stats at every consistency level;
// Purge; DedupID and request-ID idempotency (a retried Reserve, Ack or Nack
// gets its first answer); payload limits; bad
// arguments; ReserveWait (timeout, woken by an enqueue, immediate, ended by
// ctx); exclusive delivery to concurrent workers; distinct sequences for
// concurrent producers; with Advance: delays elapsing, visibility expiry with
// redelivery and a stale first receipt, a stale RemoveFromInFlight(job.ID)
// refused with ErrStaleReceipt while another worker holds the job (the ID a
// reservation returns names it), Touch, OldestReadyAge.
//
// QueueBatches (flowmesh.QueueBatcher): EnqueueBatch IDs and consecutive
// sequences; ReserveBatch in FIFO order across batch and single enqueues,
// partial batches, delayed jobs left out, the MaxBatchBytes bound; AckBatch
// with a result per receipt (stale, unknown, repeated, other queue) equal to
// single Ack's; DedupIDs per item (within a batch, against single Enqueue,
// after ack, per queue); request-ID idempotency of all three; limits and
// empty batches; ReserveBatchWait; concurrent batch workers; with Advance:
// delays elapsing, visibility expiry with redelivery and stale receipts,
// MaxAttempts through batch reservations to dead and dead-letter queues.
//
// KV: revisions, CreateRevision, binary and empty values; ErrNotFound;
// IfRevision (create-only, compare-and-swap, racing creators, conditional
// delete) with *RevisionMismatchError; List with prefix, after and limit and
// paging; key, value and TTL limits; request-ID idempotency (also of a
// compare-and-swap); reads at every
// consistency level (an unknown level is an invalid argument); distinct
// revisions for concurrent writers; Watch from now, replay from any retained
// revision then live (no gap or repeat while writers run), per-prefix and
// per-store, *CompactedError with the oldest retained revision, callback
// errors; with Advance: TTL expiry (never returned once past, gone from List,
// an expire event, the key creatable again) and TTL renewal.
//
// Deleting a resource ends its subscriptions and watches with ErrNotFound.
//
// Errors are checked with errors.Is against the root sentinels, and where a
// sentinel has a typed form (*InvalidArgumentError, *LimitError,
// *OffsetOutOfRangeError, *CompactedError, *RevisionMismatchError) the error
// must carry it, so a remote client has to map status details back to the
// types, not only to the sentinels. Where the contract allows either an
// invalid argument or a limit error, either is accepted.
//
// Not covered here, because it needs control the contract does not give:
// retention by MaxBytes (it removes whole segments, so it depends on the
// node's segment size), dedup-window expiry, Leader/Stale reads on a lagging
// follower, and anything about restarts or replication.
package flowmeshtest
