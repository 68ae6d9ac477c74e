// Package rpc serves a FlowMesh node over gRPC: the flowmesh.v1 services
// (proto/flowmesh/v1, generated into rpc/flowmeshpb), the standard
// grpc.health.v1 service and server reflection, so grpcurl and
// grpc-health-probe work against a node as they are.
//
//	srv := rpc.NewServer(rpc.Config{GRPCAddr: addr, Version: v}, node) // node: *storage.Storage
//	go srv.Serve(lis)
//	...
//	srv.GracefulStop()
//
// # The node
//
// The server takes one value, a Node (node.go): the node's own method set,
// which *storage.Storage has (cmd/node and rpctest assert it at compile
// time). Node names its parts for the handlers that use them - the root
// package's managers (resources, streams, queues with their batches, KV,
// transactions, quotas), ClusterAdmin (membership, state hash, snapshots),
// StatusSource (raft state, leader's address, readiness, disk) and
// NextRevision - but there is nothing optional: the server discovers no
// capability by type assertion, and every service is the node's. The
// founding API's views (storage's MetaStore, StreamManager(), ...) are
// for embedding programs and never reach the server. Tests that script a
// node embed a nil Node and override the calls they need.
//
// # Request path
//
// Every call goes validate -> node -> translate. Handlers check at the
// boundary what is malformed whatever the node's state with the root
// package's check of the operation (flowmesh.ValidatePath,
// flowmesh.ValidatePut, ValidateWriteEvents, ... in validate.go), the same
// function the embedded node and the client call, so a mistake gets the
// same InvalidArgument (naming the field) or ResourceExhausted (naming the
// limit) whichever way it arrives. rpc itself adds only the wire's checks:
// a duration that does not convert, and the wait of one long poll
// (flowmesh.MaxReservePoll). Checks that need state are the node's. The interceptors then translate
// the handler's error once (errors.go), recover panics into Internal (logged
// with the stack); the optional Metrics interceptors run outside them and
// so see the status code the caller gets.
//
// # Errors
//
// Each root-package error becomes a gRPC code plus a flowmesh.v1.ErrorDetail
// naming the sentinel and carrying the typed error's fields; see errors.go
// for the table. The client maps details, never messages, back to the same
// errors. Clients treat NotLeader and NoLeader as "not proposed" and retry
// even calls without a request ID at the leader. That holds for a follower's
// refusal; a leader that loses leadership with the command in flight reports
// NotLeader too (cluster.applyError), so such a retry of a create may answer
// AlreadyExists for a resource it did create. Writes with a request ID are
// unaffected: the FSM deduplicates them.
//
// # Decisions
//
//   - Keys (KV keys, prefixes, event keys) are bytes on the wire: a Go string
//     may hold any bytes and proto3 strings must be UTF-8.
//   - Durations and times are google.protobuf.Duration and Timestamp; unset
//     means zero.
//   - MaxRecvMsgSize admits a WriteEvents batch of MaxBatchBytes with framing
//     headroom (DefaultMaxRecvMsgSize); larger requests are refused by gRPC
//     with ResourceExhausted before any handler runs.
//   - HTTP/2 flow control is static (internal/grpcwire): 1 MiB per call, 4
//     MiB per connection, on the server, the SDK and forwarding. gRPC's
//     default dynamic window pings the peer for every DATA frame it receives
//     while no ping is outstanding: with one small call at a time per
//     connection, a ping and an ack per request and per response.
//   - PipeService (pipe.go, proto/flowmesh/v1/pipe.proto) carries unary
//     calls as tagged messages of one bidirectional stream per connection:
//     one DATA frame each way per call instead of a stream with headers and
//     trailers. Each call runs the method's own handler through the same
//     unary interceptor chain (authorized with the pipe's credential as its
//     own method, rate-limited, decode-checked, forwarded, counted under its
//     own name), with its deadline, metadata and response headers. The pipe
//     itself needs any credential. GracefulStop sends a stopping notice,
//     answers every call it read (later ones with ErrStopped), and ends the
//     pipe when the client closes its side or after 2s. It is off with
//     Config.DisablePipe and with tracing (each call keeps its own span);
//     the SDK then makes unary calls.
//   - ReadFromOffset, List and ListDead return fewer items than asked rather
//     than exceed MaxResponseBytes (always at least one); callers continue
//     from the last item, which the API already requires.
//   - Reserve's long poll is bounded by flowmesh.MaxReservePoll per call; the client
//     loops for longer waits.
//   - Subscribe and Watch are server streams that end when the caller
//     cancels, the node fails, or the server stops: GracefulStop ends
//     them with Unavailable (ErrStopped) so clients resume on another node,
//     then waits for unary calls. Shutdown(ctx) bounds that wait.
//   - Slow consumers (slowconsumer.go): a Subscribe or Watch hands each
//     message to a sender goroutine through a buffer of StreamBufferBytes,
//     so the handler never blocks in Send. When the buffer stays full with
//     no Send finishing for Config.SlowConsumerTimeout (30 s; the client
//     took nothing the node had ready), the handler returns
//     *flowmesh.SlowConsumerError: ResourceExhausted, code SLOW_CONSUMER,
//     resume_from the offset after the last message sent (Watch: the
//     revision of the last event sent, since several share one). What was
//     sent arrives before the status; the message in flight at the cut may
//     too (at least once). A stream with nothing pending is never cut off,
//     however long its client is idle. The handler returns while the sender
//     may still be in Send: grpc-go ends that Send when the handler's
//     status is written (see streamSender for the source it relies on),
//     and the Server waits for senders on Stop.
//   - Stream caps (streamlimit.go): at most MaxSubscribers and MaxWatchers
//     streams open at a node and MaxTenantSubscribers/MaxTenantWatchers
//     per tenant (the path's); over one, ResourceExhausted with a
//     *flowmesh.LimitError naming the cap and the use, checked before
//     anything is read or sent. StreamStats reports them for /metrics.
//   - Resource calls carry no CallOptions: the root ResourceManager takes
//     none. Create and delete take a request_id, passed to the node
//     with flowmesh.ContextWithRequestID, so a retry is deduplicated.
//   - Watch resolves from_revision 0 to the store's next revision before it
//     starts (Node.NextRevision) and sends the start in
//     the response header "flowmesh-start-revision", so a client that
//     reconnects before any event resumes there and loses no change.
//
// # Leader forwarding
//
// A follower forwards to the leader every unary call its node refuses
// with a *flowmesh.NotLeaderError naming a leader: writes, linearizable and
// leader reads, and the cluster calls that need the leader. The unary
// interceptor (forward.go) sends the same full method with the original
// request message over a cached connection to the leader's gRPC address
// (NotLeaderError.LeaderAddr), under the caller's context (its deadline and
// cancellation) and metadata, and returns the leader's response or status
// unchanged. The response header "flowmesh-leader" names the leader, so a
// client can go there directly next time.
//
//   - One hop: a forwarded call carries "flowmesh-forwarded: 1"; a node that
//     receives one never forwards it again but answers NotLeader itself.
//   - "flowmesh-direct: 1" asks for no forwarding: the SDK sets it when it
//     believes it talks to the leader, and gets the NotLeader detail (leader
//     ID and gRPC address) when that is no longer so.
//   - With no leader known the follower answers Unavailable with the
//     NOT_LEADER detail and no address (errors.Is ErrNoLeader).
//   - A transport failure reaching the leader is returned as it is
//     (Unavailable): whether the leader received the call is unknown, as for
//     a direct call, so only calls with a request ID are retried.
//   - A leader that loses leadership with the command in flight answers
//     NotLeader too; forwarding then proposes the command again at the new
//     leader. With a request ID (the SDK always sends one) the FSM returns
//     the first result; without one the caller may see the repeat's answer
//     (AlreadyExists for a create that did happen).
//   - Subscribe and Watch are served locally: they read committed state.
//   - Config.DisableForwarding turns it off (the follower answers NotLeader).
//
// # Reads
//
// Consistency levels map to where the read is served:
//
//   - stale: by any node from its local state (with MaxStaleness, a
//     follower that has not heard from the leader for that long answers
//     TooStale).
//   - linearizable (the default): on the leader by read-index (package
//     cluster: note the commit index, confirm leadership with a quorum, wait
//     until applied). A follower forwards the read to the leader, which is
//     the simplest correct read-index for followers: the leader's answer
//     reflects every write acknowledged before the read began.
//   - leader: on the node that believes it leads; a follower forwards it.
//
// # Authentication and authorization
//
// With Config.Auth set (the node passes its *auth.Store), the interceptors
// authorize every call before its handler runs and before it is forwarded
// (auth.go); with it nil the server is open, as for development.
//
//   - Who: a bearer token ("authorization: Bearer <token>") wins; else a
//     verified client certificate (credentials.TLSInfo VerifiedChains):
//     one chaining to the peer CA (Config.PeerCAs) is a node, which may
//     assert the subject of the client it forwards for in
//     "flowmesh-subject" and is cluster-admin when it asserts none; any
//     other is looked up by its CN among the "cert" entries. A subject
//     asserted over any other connection is refused (Unauthenticated).
//     So the peer CA must sign only node certificates: whatever chains to
//     it is a node. The chain is verified again against PeerCAs() on each
//     call that presents a certificate (a few tens of µs; cache by leaf if
//     it shows in profiles).
//   - What: authtable.go maps every flowmesh.v1 method to the permission
//     it needs and how its request names the tenant and namespace (path
//     "tenant/namespace/name", or tenant and namespace fields). A method
//     missing from it is refused (fail closed; TestEveryMethodHasAccess).
//     grpc.health.v1 and reflection are open, for grpc-health-probe and
//     grpcurl. ClusterService Status and Members need any authenticated
//     caller (the SDK finds the leader with Status); the rest need
//     cluster-admin. Create and delete need admin of the tenant, data
//     mutations (including CommitOffset, Purge, Redrive) write, the rest
//     read. TxnService.Txn names any namespaces of one tenant: it needs
//     write on each of them, or read when every op is a get or range
//     (txn.go).
//   - No credential or a wrong one: Unauthenticated. A credential without
//     the grant: PermissionDenied naming the subject, method and scope,
//     never the token.
//   - ListResources of a tenant needs read on some namespace of it and
//     returns only the namespaces granted.
//   - Subscribe and Watch are checked when their request arrives (the
//     first RecvMsg, before the service method runs).
//   - Forwarding keeps the caller: the token travels in the copied
//     metadata; a caller known by certificate is asserted by subject; a
//     flowmesh-subject the client sent is dropped. RemoveSelf (a follower
//     leaving) carries the Leave call's credentials when there is one, and
//     otherwise relies on the node's peer certificate.
//
// # Cluster
//
// ClusterService (cluster.go) reports each node's status (role, term,
// commit and applied index, lag = commit - applied, readiness as the
// node's /readyz decides it (storage.Storage.Ready: ready, state, reason,
// entries behind the leader, awaiting re-add), and health: "healthy",
// the readiness state when the node is not ready ("no-leader", "removed",
// "joining", "catching-up"), "lagging" when lag exceeds LagThreshold,
// "shutdown") and the members as memberlist and raft see
// them, and manages membership (Join, Leave, RemovePeer, TransferLeader)
// and snapshots (SnapshotSave streams a snapshot the leader takes;
// SnapshotRestore uploads one and restores it through raft on the leader, so
// every node installs it). RemovePeer and TransferLeader are forwarded like
// writes; Leave with another node's ID is sent to that node; the snapshot
// streams are relayed to the leader.
//
// The server reaches the node's consensus only through operations of the
// node (ClusterAdmin: membership, SaveSnapshot and RestoreSnapshot as
// streams with their nodeadmin.SnapshotMeta; StatusSource: the raft
// state, readiness and disk), in the values of package nodeadmin. It imports neither package
// cluster nor hashicorp/raft (TestPackageBoundaries in the root package
// checks it): storage owns the raft node, and what a snapshot or a status
// is made of stays behind it.
//
// SetQuota and GetQuota (quota.go) serve per-tenant quotas through a
// QuotaAdmin (flowmesh.QuotaManager, a part of Node). SetQuota needs
// cluster-admin and is forwarded like a write; GetQuota is a linearizable
// read that a tenant's admin may make for its own tenant (the cluster
// default "*" only a cluster admin). A write over a quota is the FSM's
// *flowmesh.QuotaError: ResourceExhausted with LIMIT_EXCEEDED and the
// quota's tenant, name, limit, use and need in the detail.
//
// # Tenant request rate
//
// Config.TenantRate/TenantBurst (ratelimit.go) limit, per node, the unary
// calls whose request names a tenant (by path or tenant field, as the
// authorization table scopes it), after authorization and before the
// handler: a token bucket per tenant, at most MaxRateBuckets of them (idle
// ones are dropped first; a flood of names resets them all rather than
// growing). It is admission control, not replicated and not in the FSM;
// a call a follower forwards counts at both nodes. Streams (Subscribe,
// Watch) are not limited. A refused call is *flowmesh.RateLimitError:
// ResourceExhausted with rate_tenant and retry_after_ms in the detail.
// ResourceExhausted is never retried by the client.
//
// SnapshotRestore hands the upload to the node's RestoreSnapshot
// (storage, then cluster.Restore), which verifies all
// of it before raft sees a byte. Refusals change nothing: a malformed,
// corrupt, empty or wrongly sized snapshot is InvalidArgument (field
// "snapshot" or "size"), a larger one than the node stages is
// ResourceExhausted, a snapshot of another cluster (or naming none) is
// FailedPrecondition unless the first message sets force_cluster_id, and a
// second restore while one runs is Aborted.
package rpc
