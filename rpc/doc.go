// Package rpc serves a FlowMesh node over gRPC: the flowmesh.v1 services
// (proto/flowmesh/v1, generated into rpc/flowmeshpb), the standard
// grpc.health.v1 service and server reflection, so grpcurl and
// grpc-health-probe work against a node as they are.
//
//	srv := rpc.NewServer(rpc.DefaultConfig(), backend)
//	go srv.Serve(lis)
//	...
//	srv.GracefulStop()
//
// # Request path
//
// Every call goes validate -> backend -> translate. Handlers check at the
// boundary what is malformed whatever the node's state (paths and names,
// negative counts and durations, the sizes of limits.go, option values) and
// answer InvalidArgument naming the field, or ResourceExhausted for sizes.
// Checks that need state are the backend's. The interceptors then translate
// the handler's error once (errors.go), recover panics into Internal (logged
// with the stack), and report each call to the optional Metrics hook.
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
//   - ReadFromOffset, List and ListDead return fewer items than asked rather
//     than exceed MaxResponseBytes (always at least one); callers continue
//     from the last item, which the API already requires.
//   - Reserve's long poll is bounded by MaxReserveWait per call; the client
//     loops for longer waits.
//   - Subscribe and Watch are server streams that end when the caller
//     cancels, the backend fails, or the server stops: GracefulStop ends
//     them with Unavailable (ErrStopped) so clients resume on another node,
//     then waits for unary calls. Shutdown(ctx) bounds that wait.
//   - Resource calls carry no CallOptions: the root ResourceManager takes
//     none. Adding them later is a compatible change.
//
// Forwarding writes from a follower to the leader is not done here yet: a
// follower answers NotLeader with the leader's ID and gRPC address, and the
// client follows it.
package rpc
