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
// --default-quota-{stored-bytes,resources,partitions,kv-keys,queue-jobs}
// give the cluster default quota (-1, the default: leave that field as
// the cluster has it; 0: unlimited). They reach the replicated state only
// through the leader, which proposes them when it is elected (see package
// storage), so every node should have the same values. --memory-quota-bytes
// is the cluster-wide memory quota (README "Memory bounds"; -1, the default:
// leave it as the cluster has it, 2 GiB unless set), proposed the same way.
// --tenant-rate and --tenant-burst limit each tenant's calls at this node
// (rpc.Config).
//
// The Go runtime's own variables apply as usual, with one changed default:
// without GOGC in the environment the node runs with GOGC=200 (see
// defaultGCPercent in main.go), so its heap may peak at ~3x the live heap.
// Set GOGC=100 to restore the runtime default, or GOMEMLIMIT to bound memory.
//
// # Start-up and shutdown
//
// main wires, in order: the storage node (opened and started; a node that
// bootstraps alone waits for its leadership), the gRPC server on --grpc-addr, the HTTP admin server on
// --http-addr. On SIGINT or SIGTERM it shuts down in the reverse order:
//
//  1. gRPC: report NOT_SERVING, end Subscribe/Watch streams with
//     Unavailable (clients resume elsewhere), stop accepting, and let
//     in-flight unary calls finish, bounded by --shutdown-timeout; then
//     cancel what is left (rpc.Server.Shutdown).
//  2. HTTP admin: Shutdown, bounded by the same timeout.
//  3. tracing (with --otlp-endpoint): the spans not yet exported are
//     flushed to the collector, bounded by the same timeout.
//  4. storage: Stop (background loops, raft, then the FSM flushed),
//     bounded by the same timeout: raft waits for replication calls to
//     peers that stopped answering (up to its transport's 10 s timeout), so
//     past the bound the process exits with status 1 and the rest is left
//     to the next start, as after a crash (every acknowledged write is in
//     the raft log; the log above the last checkpoint is replayed).
//
// Exit status is 0 after a clean shutdown, 1 when start-up or shutdown
// failed, 2 for usage errors.
//
// # HTTP admin endpoints
//
// The admin port serves HTTPS when --cert-file is set.
//
//   - /healthz: 200 while the process serves HTTP.
//   - /readyz: 200 "ready" when storage.Storage.Ready says so: a leader
//     once it has committed an entry of its term and applied its commit
//     index; a follower once it knows a leader that contacted it recently,
//     is in the raft configuration it knows, and has applied the leader's
//     index (the larger of its own commit index and the applied index the
//     leader gossips about every second; a follower's own commit index
//     stops at its last log entry, so alone it would call a follower far
//     behind current). It waits up to half a second (storage.ReadyWait)
//     for the node to apply that index, so a node keeping up under load
//     does not flap. Otherwise 503
//     "not ready: " and a reason an operator can act on: "no leader: no
//     contact from a leader since start, though gossip names n1 the
//     leader: removed from the configuration? (...)", "no contact from
//     leader n1 for 12s (removed from the configuration?)", "not in the
//     raft configuration (removed with remove-peer or leave); awaiting
//     re-add: ...", "not in a raft configuration yet: waiting for the
//     bootstrap-expect members or for the leader to add this node",
//     "catching up: applied 120 of 5000 (leader n1)". flowmesh cluster
//     status shows the same per node (READY: "catching up 4880 entries",
//     "removed, awaiting re-add"; the reasons under the table). A disk alarm (a
//     node of the cluster below its --disk-reserve-bytes) leaves it 200,
//     with the header "Flowmesh-Alarm: NOSPACE" and the reason in the
//     body: the node still serves reads, watches and the writes that free
//     space, and a 503 would take it out of the Service's endpoints (reads
//     lost) while a restart frees nothing. Alert on flowmesh_disk_alarm.
//   - /metrics: Prometheus metrics (package internal/metrics), among them
//     every transport budget's use, limit and refusals (budgets.go):
//     --max-connections (gRPC), --raft-max-connections,
//     --raft-idle-timeout and --gossip-max-connections set them;
//     "subscribers" and "watchers" are the Subscribe and Watch streams
//     open (--max-subscribers, --max-watchers; per tenant
//     --max-tenant-subscribers, --max-tenant-watchers), with the ones
//     cut off by --slow-consumer-timeout as refused reason="slow";
//     "memory_bytes" is the cluster-wide memory quota's use and limit as
//     this replica holds them (0: unlimited; its refusals are the
//     ResourceExhausted codes of the gRPC metrics).
//   - /console: a read-only HTML page for operators (console.go): this
//     node's raft state (role, term, leader, commit/applied/log/snapshot
//     indexes, when the leader was last heard, disk), the members as it
//     sees them (gossip status, voter or leader, addresses, applied index,
//     version, disk alarm), the last 50 leader changes it observed since
//     it started (cluster.LeaderChanges; losing the leader is a row),
//     per-tenant use and limits, every queue's ready, delayed, in-flight
//     and dead jobs, every stream's partitions, retained events and bytes,
//     every committed consumer-group offset with its lag (events from the
//     committed offset, or the earliest retained, to the partition's end),
//     and the resources. Everything comes from this node's own state, like
//     /metrics (stale reads, no call to the leader): a follower's page
//     may trail the leader's by its replication lag. Each table shows at
//     most 500 rows and says how many more there are; the reads behind
//     one page are bounded to 5 s. The page is server-rendered
//     (html/template, every value escaped), loads no script and no other
//     asset (its Content-Security-Policy allows only its own inline style,
//     by hash), and refreshes itself every 5 s with <meta
//     http-equiv="refresh">; ?refresh=N sets the period in seconds
//     (0..3600, 0: off; anything else is a 400). Without --auth-file it is
//     open like the rest of the port; with it, it names every tenant, so
//     only a cluster-admin may see it: "Authorization: Bearer <token>",
//     the token as the password of HTTP Basic authentication (a browser
//     prompts for it; the user name is ignored), or a verified client
//     certificate whose CN has a "cert" entry; otherwise 401 (with a Basic
//     challenge) or 403.
//   - /debug/pprof/: the Go profiler, only with --enable-pprof; with
//     --auth-file only for "Authorization: Bearer <cluster-admin token>".
//     /debug/pprof/cmdline is never served (the command line may hold a
//     --gossip-key).
//
// # Tracing
//
// OpenTelemetry tracing is off by default: no stats handler, and the raft
// span is a no-op. --otlp-endpoint HOST:PORT turns it on, exporting spans
// over OTLP/gRPC (TLS with the system roots; --otlp-insecure for
// plaintext, as a local Jaeger or OpenTelemetry Collector on :4317 wants)
// in batches (every 5 s, at most 2048 queued spans; beyond that new spans
// are dropped, never the calls). Without the flag the standard
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT (a
// URL: http:// is plaintext) turns it on too, and the exporter's other
// OTEL_EXPORTER_OTLP_* variables (headers, timeout, certificate) apply;
// OTEL_RESOURCE_ATTRIBUTES adds resource attributes. The endpoint must be
// host:port with a port from 1 to 65535, anything else is a usage error
// (exit 2); so is a --trace-sample-ratio outside 0..1.
//
// Sampling is parent-based: a call that carries a W3C traceparent (from a
// traced client, or forwarded by another node) is sampled as its caller
// decided; a call that starts a trace is sampled with probability
// --trace-sample-ratio (default 1: every call; 0: only calls whose caller
// sampled them). Spans carry service.name "flowmesh-node", the node ID as
// service.instance.id and flowmesh.node.id, and service.version.
//
// The spans of one write sent to a follower, all in one trace:
//
//   - the follower's server span, "flowmesh.v1.<Service>/<Method>" (otelgrpc:
//     rpc.* attributes, gRPC status);
//   - its client span of the same name, forwarding the call to the leader;
//   - the leader's server span, a child of that client span;
//   - "raft.apply" under it (package cluster): from the proposal to its
//     result, with raft.log.index and raft.batch.commands (the log entry
//     that carried the command and how many commands it held: group
//     commit) and flowmesh.command.bytes; failed when the proposal failed
//     (lost leadership, shutdown, deadline), not when the FSM refused the
//     command (not found, conflict), which is the server span's status.
//
// A call the leader serves itself has its server span and raft.apply;
// reads have the server span only.
//
// # Authentication
//
// --auth-file FILE turns authentication and per-tenant authorization on
// (token file format and grants: package internal/auth; what each call
// needs: package rpc). Without it the node is open and logs a WARN saying
// so at start. SIGHUP re-reads the file (reloadOnSIGHUP in auth.go; a bad
// file is logged and the previous contents stay in force); more reloaders
// (certificates) join the same list.
//
//	flowmesh-node token add --file FILE --subject NAME --grant G [--grant G...]
//
// makes a random token, appends its SHA-256 to FILE (created 0600) and
// prints the token once; a running node picks it up on SIGHUP.
//
// # Raft log store
//
// A new data dir keeps its raft log in raft-wal (DATA_DIR/raft/wal/, with
// raft's term and vote in its meta database wal-meta.db); with
// --raft-log-store boltdb in bbolt (DATA_DIR/raft/raft.db, as dirs made
// by older releases). --raft-log-store wal|boltdb chooses for a new dir
// and must match an existing one.
//
//	flowmesh-node convert-log-store --data-dir DIR --to wal|boltdb
//
// converts a stopped node's store (cluster.ConvertLogStore): it takes the
// data dir's LOCK (refused while a node runs), copies and verifies every
// entry, the term and the vote, swaps the new store in and keeps the old
// one as raft/raft.db.bak-TIME or raft/wal.bak-TIME. Usage errors exit 2.
//
// # Cluster
//
// Every node gossips (hashicorp/memberlist) on --gossip-addr, TCP and UDP,
// with its raft ID, raft and gRPC addresses, --bootstrap-expect value and
// version. --join host:port (repeatable or comma-separated) names gossip
// addresses of other members; joins are retried in the background.
//
//   - --bootstrap-expect 1 (the default): a fresh node bootstraps alone.
//   - --bootstrap-expect N: a fresh node waits until exactly N alive members
//     with the same value and no raft state see each other; all N then
//     bootstrap the same configuration, so they never form two clusters.
//   - --bootstrap-expect 0, and the default when --join is given: never
//     bootstrap; the leader adds the node once it joins.
//
// The leader adds new members as non-voters and promotes them once caught
// up, removes members that left gracefully, and keeps dead ones as voters
// unless --dead-server-cleanup is set (never below a quorum). With
// --leave-on-terminate, SIGTERM first leaves the cluster (a leader hands
// leadership over; the node leaves the raft configuration, then gossip),
// then shuts down as above; SIGINT never leaves.
//
// Addresses without a host bind to 127.0.0.1, unless --advertise gives the
// host other nodes dial (behind NAT, in a container): then raft and gossip
// bind all interfaces and advertise that host (--advertise host:port sets
// the gossip port too). The gRPC address put in gossip and NotLeader
// errors is --advertise-grpc, else the --grpc-addr host, else the
// --advertise host, else 127.0.0.1, with the bound gRPC port.
// --gossip-key (base64 of 16, 24 or 32 bytes) encrypts gossip; a node
// without the key cannot join. Give it with --gossip-key-file or
// FLOWMESH_GOSSIP_KEY: a flag value shows in /proc/PID/cmdline (and so in
// ps and pprof's cmdline).
//
// # TLS
//
// Two commands make a secure local cluster:
//
//	flowmesh-node certs init ./tls --hosts node1,node2,10.0.0.5
//	flowmesh-node --tls-dir ./tls ...
//
// certs init (internal/certs) writes ca.crt/ca.key (clients and servers),
// node.crt/node.key (server certificate: localhost, 127.0.0.1, ::1 and
// --hosts), client.crt/client.key (CN admin), peer-ca.crt/peer-ca.key,
// peer.crt/peer.key (node to node) and gossip.key; it never overwrites a
// file (exit 2). --tls-dir DIR sets the six file flags below and
// --gossip-key-file to those names; explicit flags win.
//
//   - --cert-file, --key-file, --trusted-ca-file (all three, or none): gRPC
//     and the HTTP admin port serve TLS with this certificate. Client
//     certificates are optional and verified when given, against the
//     trusted CA and the peer CA (a follower forwarding a call to the
//     leader presents its peer certificate). The trusted CA also verifies
//     the leader's server certificate, name included, when forwarding.
//   - --peer-cert-file, --peer-key-file, --peer-trusted-ca-file (all three,
//     or none): raft runs over mutual TLS (package cluster); a peer without
//     a certificate from the peer CA is refused at the handshake. Gossip is
//     not under TLS, so a gossip key is then required: memberlist encrypts
//     packets and streams with it and a host without it cannot gossip.
//
// Validation reports every problem (missing files, pairs given by halves)
// with exit 2. SIGHUP re-reads every certificate, key and CA (only when TLS
// is configured); new connections use them, established ones keep theirs;
// a failed reload is logged and the old material stays. Without TLS the
// node logs a warning at start.
package main
