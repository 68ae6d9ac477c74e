// Command node is the FlowMesh server: one process that runs an embedded
// storage node, serves it over gRPC and exposes an HTTP admin port. Build it
// as bin/flowmesh-node (scripts/run-node.sh); `go install` would name it
// "node", which clashes with Node.js.
//
// # Configuration
//
// Every setting is a flag; each flag also reads the environment variable
// FLOWMESH_<FLAG> (upper case, '-' as '_', e.g. FLOWMESH_GRPC_ADDR) and a
// line of the optional --config file. Precedence: flag, then environment,
// then config file, then the default. The config file has one "key = value"
// per line with the flag's name as key; blank lines and lines starting with
// '#' are ignored:
//
//	# /etc/flowmesh/node.conf
//	data-dir  = /var/lib/flowmesh
//	grpc-addr = :7400
//	log-format = json
//
// Invalid flags or settings exit with status 2 and a message.
//
// # Start-up and shutdown
//
// main wires, in order: the storage node (opened and started, waits for a
// leader), the gRPC server on --grpc-addr, the HTTP admin server on
// --http-addr. On SIGINT or SIGTERM it shuts down in the reverse order:
//
//  1. gRPC: report NOT_SERVING, end Subscribe/Watch streams with
//     Unavailable (clients resume elsewhere), stop accepting, and let
//     in-flight unary calls finish, bounded by --shutdown-timeout; then
//     cancel what is left (rpc.Server.Shutdown).
//  2. HTTP admin: Shutdown, bounded by the same timeout.
//  3. storage: Stop (background loops, raft, then the FSM flushed).
//
// Exit status is 0 after a clean shutdown, 1 when start-up or shutdown
// failed, 2 for usage errors.
//
// # HTTP admin endpoints
//
//   - /healthz: 200 while the process serves HTTP.
//   - /readyz: 200 when the node knows a leader and its FSM has applied up to
//     the commit index; otherwise 503 with the reason.
//   - /metrics: Prometheus metrics (package internal/metrics).
//   - /debug/pprof/: the Go profiler.
//
// # Reserved flags
//
// --gossip-addr is accepted and unused; --join and --bootstrap-expect other
// than 1 are refused: clustering arrives with the cluster issue. Until then
// a raft address without a host (":7401") binds to 127.0.0.1, as a single
// node has no peers to advertise itself to.
package main
