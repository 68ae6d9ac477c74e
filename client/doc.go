// Package client is the Go SDK of FlowMesh: a *Client implements the root
// package's ResourceManager, StreamManager, QueueManager and KVManager over
// gRPC, the same interfaces the embedded node (package storage) implements,
// so a program moves between embedded and remote without other changes.
// It also implements flowmesh.TxnManager (Txn: compares and ops over one
// tenant's KV stores, streams and queues, all or nothing; see the examples)
// and flowmesh.QueueBatcher; package client/concurrency builds locks with
// fencing tokens on it.
//
//	c, err := client.New(client.Config{Endpoints: []string{"10.0.0.1:7400", "10.0.0.2:7400"}})
//	defer c.Close()
//	rev, err := c.Put(ctx, "t1/ns1/cfg", "greeting", []byte("hello"), flowmesh.KVPutOptions{})
//
// Config.TLS secures the connections (nil: plaintext): set RootCAs to the
// CA of the nodes' certificates (ca.crt of `flowmesh-node certs init`) and
// Certificates to a client certificate when the nodes want one. Each
// endpoint is verified by its host, so ServerName stays empty.
//
// Config.Token is sent as "authorization: Bearer <token>" on every call
// (per-RPC credentials that do not demand TLS, so a development node
// works too); a node with authentication answers Unauthenticated without
// it and PermissionDenied outside its grants. Neither is retried.
//
// # Leaders, retries and idempotency
//
// Calls go to one node at a time, the leader once known. A call to a node
// not known to lead is forwarded by it to the leader (package rpc), and the
// "flowmesh-leader" header of its answer moves later calls to the leader.
// The leader found is shared within the process: a client made later with
// the same Endpoints starts at it (unless Pinned).
// Calls to the known leader go direct (metadata "flowmesh-direct"): if it no
// longer leads it answers NotLeader with the new leader's gRPC address, and
// the client goes there at once. Other Unavailable answers (no leader, node
// stopping, connection failures) move it to the next endpoint after an
// exponential backoff with jitter, until the call succeeds, fails for good,
// ctx ends, or MaxRetries is spent.
//
// The small, frequent calls (KV Put, Get and Delete, WriteEvents, Enqueue,
// EnqueueBatch, Reserve, ReserveBatch, Ack, AckBatch, RemoveFromInFlight)
// share one stream per connection, the pipe (pipe.go): a call is one message
// each way instead of an HTTP/2 stream of its own, which costs the client
// and the node far less CPU. The node runs each exactly as the unary call,
// so results, errors, leader hints and retries are the same; a call whose
// context ends is canceled on the node too. Calls go unary until the
// connection is ready, against a node without the pipe, when larger than
// 256 KiB, and with Config.NoPipe. If the connection breaks under a call on
// the pipe, the call fails with Unavailable, as a unary call does; calls a
// node had not started when it ended the pipe itself (stopping) are made
// again, unary.
//
// Which calls are retried:
//
//   - Reads (Get, List, ReadFromOffset, FetchOffset, PartitionInfo, Stats,
//     ListDead, GetResource, ListResources, Status): on any Unavailable.
//   - Writes of the stream, queue and KV APIs (WriteEvents, CommitOffset,
//     Enqueue, EnqueueBatch, Reserve, ReserveBatch, RemoveFromInFlight, Ack,
//     AckBatch, Nack, Touch, Purge, Redrive, Put, Delete, Txn): every call
//     carries a request ID — the caller's (flowmesh.WithRequestID) or a
//     fresh random one — and every retry repeats the SAME ID. The node's FSM
//     deduplicates writes by request ID and returns the first result, so a
//     retry after a failover never appends, enqueues or reserves twice.
//     Reserve is such a write too. The dedup window is bounded (10 minutes,
//     20000 results, ~4 MiB): a retry later than that is applied as new.
//   - Resource creation and deletion carry a request ID too (the
//     request_id field; the node passes it to the FSM, which deduplicates
//     them), so they are retried the same way: a retried create returns the
//     resource it created rather than ErrAlreadyExists.
//   - Cluster administration: Members and Status like reads; Join and
//     RemovePeer on any Unavailable; Leave and TransferLeader only on
//     NotLeader and NoLeader. The snapshot streams are not retried.
//
// Deadlines come from ctx. Config.RequestTimeout bounds a call only when ctx
// has none; a ReserveWait's wait is added to it.
//
// # Streams
//
// Subscribe and Watch reconnect when their stream breaks and resume after
// the last offset or revision delivered, so the callback sees each message
// or change once and in order. A Watch from revision 0 ("from now on") that
// breaks before its first event resumes at the revision the node reported
// when the watch began (header "flowmesh-start-revision"), so no change made
// while it reconnects is lost.
// A stream the node cut off as too slow (ResourceExhausted SLOW_CONSUMER,
// *flowmesh.SlowConsumerError: the callback or the application did not
// keep up) is reopened at the same node from the same resume position, so
// it is not surfaced; it counts toward MaxRetries only when nothing was
// delivered between two cuts.
//
// Changes, Messages and Entries (iter.go) are Watch, Subscribe and paged
// List as iterators for range-over-func loops; breaking out of the loop
// ends the watch or subscription.
//
// # Helpers
//
// Consume (helpers.go) reads a partition for a consumer group: from the
// group's committed offset, committing what the callback accepted every
// CommitEvery messages, every CommitInterval and on return (at least once).
// Work runs a queue worker pool: it reserves jobs (long polls), runs the
// handler for each, up to Concurrency at once, extends the reservation
// every Visibility/3 while the handler runs (cancelling the handler's
// context if the reservation went stale), then acks on success or nacks on
// error.
//
// # Errors
//
// Arguments are checked before anything is sent, with the root package's
// check of the operation (flowmesh.ValidatePut, ...), the one the node runs:
// a mistake the node would refuse is refused here with the node's error,
// word for word.
//
// A node's errors come back as the root package's: errors.Is matches the
// sentinels (flowmesh.ErrNotFound, ...), errors.As finds the typed errors
// (*flowmesh.InvalidArgumentError, *flowmesh.OffsetOutOfRangeError,
// *flowmesh.NotLeaderError, ...) with their fields, mapped from the status's
// ErrorDetail and never from its text. Failures without a detail (transport
// errors) are returned as gRPC status errors.
//
// A quota refusal is a *flowmesh.QuotaError (tenant, quota, limit, use,
// need; tenant "*" and quota memory_bytes for the cluster-wide memory
// quota, whose use is all tenants') and a node's tenant rate limit a *flowmesh.RateLimitError with
// RetryAfter; both match flowmesh.ErrLimitExceeded. Like every
// ResourceExhausted they are returned at once, never retried: waiting is
// the caller's decision (RetryAfter says how long). SetQuota and Quota
// (quota.go) make the client a flowmesh.QuotaManager.
package client
