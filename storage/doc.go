// Package storage is the embeddable FlowMesh node: the founding API.
//
//	s, err := storage.New("./data")
//	err = s.Start(ctx)
//	defer s.Stop(context.Background())
//	factory := storage.NewResourceFactory(s.MetaStore())
//	stream, err := factory.CreateStream(ctx, "tenant1", "ns1", "events", 1)
//	offsets, err := s.StreamManager().WriteEvents(ctx, stream.GetPath(), events)
//
// # One method set, the founding API as a façade
//
// The node has one method set: a *Storage is every contract interface of
// the root package itself (flowmesh.ResourceManager, StreamManager,
// QueueManager, QueueBatcher, KVManager, TxnManager, QuotaManager; see
// contract.go), as *client.Client is, plus the operations a server needs
// (membership, status, readiness, disk, snapshots). The gRPC server takes
// that one value (rpc.Node; cmd/node asserts it), with no parts glued
// together and no capability found by type assertion. Code written against
// the root interfaces takes a node or a client alike.
//
// The founding API lives in one file, founding.go, as a façade over that
// method set: New, NewBuilder ... BuildAndStart (a fluent layer over
// Config), Lifecycle and StorageBackend, the MetaStore view with
// ResourceFactory, the accessors StreamManager(), QueueManager() and
// KVManager() (which return the node itself) and RemoveFromInFlight. It
// holds no logic, and it shapes neither the wire nor the FSM: the founding
// CreateQueue's partitions argument (0 or 1: a queue is one FIFO) is
// checked by the node and the SDK and never sent; RemoveFromInFlight is a
// fenced ack (below).
//
// The founding API's RemoveFromInFlight(ctx, path, job.ID) is fenced as Ack
// is: the Job.ID a reservation returns names that reservation
// (flowmesh.ReservationID: the Enqueue ID on a first delivery,
// "<id>:<attempt>" on a redelivery) and founding.go resolves it to that
// reservation's receipt, so a worker whose reservation expired gets
// ErrStaleReceipt while another worker holds the job.
//
// A Storage runs a Raft node (a single-voter cluster by default) whose FSM
// (package fsm) applies every write to the local segment store. Writes are
// proposed through package cluster and acknowledged only once committed.
// Reads take a consistency level (flowmesh.WithConsistency): linearizable by
// default (read-index through the leader), or stale from local state.
//
// Every call is checked before it is proposed or read with the root
// package's check of its operation (flowmesh.ValidatePath, ValidatePut,
// ValidateWriteEvents, ...): the function the gRPC server and the client
// call too, so a mistake gets the same error embedded and over the network.
// What needs the state (a stream's partition count, a queue's own payload
// limit) is checked by the FSM at apply.
//
// Transactions (Storage.Txn, or KVManager() as a flowmesh.TxnManager) are
// one command each: compares, then-ops and else-ops over one tenant's KV
// stores, streams and queues, applied whole or not at all (txn.go).
//
// Background work, all owned and stopped by Stop: a flush loop that makes the
// FSM durable every FlushInterval (raft's log is fsynced on every commit, so
// this bounds only replay work after a crash), and on the leader the TTL
// expirer and the retention loop, which propose commands so every replica
// makes the same decision. Every RetentionInterval the retention loop trims
// stream partitions past their MaxAge or MaxBytes and KV Watch history
// older than KVHistoryMaxAge (1 h by default): a KVTrimHistory names the
// revision below which every replica drops a store's history, so the
// values of a deleted key leave memory even on an idle store, and a Watch
// from before that revision gets flowmesh.ErrCompacted.
//
// # Configuration
//
// Config holds the node's own settings at its top level and nests the
// settings of the packages it is built from, each package owning its
// defaults and checks (EnsureDefaults and Validate, as pebble's Options
// nest their sub-options): Config.Segment is segment.Options (how segment
// files roll), Config.Raft is cluster.Options (raft timing, snapshots, the
// raft log store, peer TLS, transport budgets) and Config.Gossip is
// cluster.GossipOptions (memberlist, joining, bootstrap-expect). Start
// hands them to their packages whole; storage derives none of their
// defaults. Config.EnsureDefaults fills every zero field, nested ones
// included, so Storage.Config reports what the node runs with. The
// founding document's SegmentMaxSize and SegmentMaxAge stay as shortcuts
// that EnsureDefaults folds into Config.Segment. Validate names a bad
// nested field by its path ("storage: Config.Raft: cluster:
// HeartbeatTimeout 1ms is below 5ms").
//
// # Quotas
//
// SetQuota and Quota (quota.go) implement flowmesh.QuotaManager: SetQuota
// proposes an fsm SetQuota command, Quota is a linearizable read of the
// FSM's limits and use (package fsm enforces them in Apply). Config's
// DefaultQuota is never read by the FSM: the leader loop proposes its set
// fields as the cluster default ("*") once per leadership, when they differ
// from the replicated ones, so every replica enforces what the log says
// even if nodes' configurations differ (the last leader's then wins;
// between elections an admin's SetQuota of "*" stands). The cluster-wide
// memory quota is the default's memory_bytes field, proposed the same way.
// QuotaUsage, QuotaLimits, Memory and LocalResources read local state
// without waiting, for /metrics.
//
// # Clusters
//
// With Config.Gossip.BindAddr set, the node gossips (cluster.Membership)
// and joins Gossip.Join in the background; Gossip.BootstrapExpect N > 1 forms a
// cluster once N fresh servers see each other, and the leader adds,
// promotes and removes servers as gossip reports them (cluster.Manage).
// Start then returns without waiting for a leader. Members, LeaderGRPC,
// Join, RemovePeer and TransferLeadership serve the operators' API; Leave
// takes the node out of the raft configuration and gossip before Stop (a
// follower asks the leader through the SetRemoveSelf hook, which the rpc
// layer sets; without it, it leaves gossip and the leader removes it).
// NotLeaderError.LeaderAddr carries the leader's gossiped gRPC address.
//
// The node's administration is its own method set, in the values of
// package nodeadmin, so a server needs nothing of raft: ID, IsLeader,
// Status (raft role, term, indexes, configuration), Members, Ready,
// StateHashIndex, and snapshots as streams with their metadata
// (SaveSnapshot on the leader, RestoreSnapshot through raft; snapshot.go).
// SegmentBytes reports the size of the FSM's resource files without the
// caller knowing its layout. Cluster() still hands out the raft wrapper to
// main and to tests; the gRPC server does not use it.
//
// Ready (ready.go) decides whether the node serves current state, and says
// why not (the node's /readyz and cluster status render it): a leader once
// it committed an entry of its term and applied its commit index; a
// follower once it hears from a leader, is in the raft configuration it
// knows and applied the leader's index (the leader's gossiped applied
// index, a second old at most, or its own commit index if larger). A
// removed server gets no heartbeats; one restarted after a remove-peer
// says gossip names a leader that sends it nothing, and the leader adds it
// back a minute after the removal (cluster.Forget).
//
// Config.Raft.PeerServerTLS/PeerClientTLS put raft under mutual TLS against
// the peer CA. Memberlist stays outside TLS, so with peer TLS and gossip on
// a Gossip.SecretKey is required: memberlist encrypts its UDP packets and TCP
// streams with it, and a host without the key cannot gossip (nor be added
// by reconciliation, which acts only on gossiped members).
//
// # File descriptors
//
// Every segment log of the node goes through one segment.FileCache sized
// by Config.MaxOpenSegmentFiles (default half of RLIMIT_NOFILE, which the
// Go runtime raises to the hard limit at start): files are opened on use
// and the least recently used idle ones closed, so nothing a client creates
// (streams of 1024 partitions, queues, KV stores) can exhaust descriptors,
// on the leader or on a follower, and no admission check is needed for
// them. SegmentFiles reports open files, the budget and evictions for
// metrics. Start logs the budget and RLIMIT_NOFILE.
//
// Config.Raft.RaftLimits, Gossip.MaxStreams and Gossip.MaxStreamBytes are
// the transport budgets of cluster (see cluster's doc, "Transport budgets");
// TransportStats reports their use for /metrics.
//
// # Disk full
//
// Apply must stay deterministic (free space differs between replicas), so
// the check is admission before proposing, cluster-wide: etcd's NOSPACE
// alarm is the model. Apply itself never skips nor alters an entry for
// want of space: it waits (fsm's doc, "Full disk").
//
//   - Every node reads the free space (statfs f_bavail) of the filesystem
//     holding its DataDir at Start and every DiskCheckInterval (1 s)
//     against its reserve, Config.DiskReserveBytes (flowmesh-node
//     --disk-reserve-bytes). The default is the smaller of 512 MiB and 5%
//     of the filesystem: 512 MiB holds several snapshots' worth of
//     headroom for the writes still allowed and for raft's own files on a
//     large volume, and the 5% cap keeps a small volume (a test tmpfs, a
//     1 GiB PVC) usable at all. Negative disables the reserve.
//   - Below its reserve a node raises its alarm (logged once, ERROR) and
//     gossips it in its memberlist metadata (cluster.Member.DiskAlarm,
//     with its free bytes rounded to a MiB and its reserve: gossiped only
//     under the alarm, so a changing free space does not re-gossip the
//     metadata every second). Each check also recomputes the cluster's
//     state from gossip: the first node (this one, else any member in the
//     raft configuration, voter or not, that gossips an alarm) short of
//     disk. A follower whose disk fills is thus protected by the leader,
//     which would otherwise replicate entries the follower cannot write.
//     A member that went dead keeps its last alarm: it comes back with
//     the same disk.
//   - propose (every write's path, on the node the call lands on, which is
//     the leader for forwarded writes) refuses a command that grows the
//     data while that state names a node, with a *flowmesh.DiskFullError
//     naming the node, its free bytes and its reserve. It unwraps to a
//     *flowmesh.LimitError, so gRPC carries it as ResourceExhausted and
//     the SDK returns it at once (it never retries ResourceExhausted).
//     Allowed: deletes (DeleteResource, KV Delete), purges, trims, acks,
//     KV expiries, and what consumers need to drain a queue or stream
//     (Reserve, Nack, Touch, CommitOffset), SetQuota and no-ops. Each of
//     those is still a small raft entry: the reserve absorbs them until a
//     snapshot compacts the log. Every other command, new ones included,
//     counts as growth (storage/disk.go, growth).
//   - Reads, watches and admin calls never look at the alarm.
//   - Hysteresis: the alarm clears at the first check with free space an
//     eighth of the reserve above it (clearMargin), here and, through
//     gossip (MetaRefresh, 1 s), on the other nodes, so a node hovering at
//     its reserve does not flap between refusing and taking writes.
//
// The check is advisory at the edge (a write admitted just before the
// alarm rises still commits), and something else may fill the disk faster
// than a check period. For that the node keeps a ballast,
// Config.DiskBallastBytes (default a quarter of the reserve, at most
// 64 MiB; negative: none), as two files of half that size each,
// allocated (fallocate on Linux) and fsynced when free space allows (free >= reserve +
// clearMargin + ballast, so putting them back never raises the alarm).
// DataDir/disk-ballast is released (deleted, logged WARN)
//
//   - when free space falls below the critical floor, the ballast's size;
//   - when Apply cannot write a committed entry (fsm Config.OnNoSpace) or
//     raft cannot write an entry to its log (cluster Config.OnLogNoSpace):
//     the alarm is then raised at once, not at the next check, so nothing
//     more is admitted while the entries already committed are written.
//     A write the raft log refused was not committed: its caller gets the
//     *flowmesh.DiskFullError too (cluster.ErrNoSpace), not Internal.
//
// DataDir/disk-ballast-start is released only by a Start below the
// critical floor, before the stores open, so that a node whose running
// ballast was taken by whatever filled the disk still has room for what
// start-up writes (rebuilt indexes, raft's vote and the leader's no-op,
// the entries replayed above the checkpoint).
//
// Deleting the ballast by hand is always safe. When the running ballast is
// gone too (the filler took its space as well), a committed entry that cannot
// be written stops the FSM: Apply retries it (up to every second) until
// space returns, the alarm stays raised (metric, /readyz header, cluster
// status) and the node stays up, but reads wait for the stalled entry
// (what it changed in memory is not on disk yet) and Stop interrupts the
// wait (fsm.Abort: no checkpoint, the next start replays the entry). It
// never exits and never skips the entry.
//
// Start-up on a full disk: a node stopped cleanly or killed (SIGKILL)
// starts on a disk filled to the last byte and serves reads under its
// alarm, refusing growth (test/abuse TestDiskFull): the start-up ballast
// gives it room, and what it writes is little. segment.Open rewrites an
// index only when it changed, and cuts stale index entries and segments
// past the checkpoint in place when there is no room for a rewrite; the
// CLEAN markers are only removed; the bolt raft store writes its vote and the
// leader's no-op, into pages bolt already holds when it has free ones
// (TestDiskFullRestartAtZeroFree: no ballast needed after a clean stop).
// Without any ballast (both taken, or none configured) a node whose raft
// log has no free page cannot write its leader's no-op: Start then fails
// with "waiting for a leader" naming the full disk. The FSM checkpoint of
// Stop and the flush loop may fail (logged; the next start replays the
// raft log). A fresh data dir cannot start: it must create its node ID,
// raft log and stores and has no ballast, so Start refuses it with less
// than MinFreshBytes (4 MiB) free, naming the data dir and the free space
// (no space left on device).
//
// Visible: Disk and LocalDisk (this node and every member's alarm) feed
// /metrics (flowmesh_disk_free_bytes, flowmesh_disk_reserve_bytes,
// flowmesh_disk_alarm per node), /readyz (still 200, with a
// Flowmesh-Alarm: NOSPACE header) and the cluster status (alarms).
//
// # Logs and metrics of an embedded node
//
// Config.Logger receives everything the node logs: its own lines, raft's
// (through cluster's hclog adapter, component "raft" and "raft-net") and
// memberlist's (component "membership"); nothing goes to stderr or the
// standard log package (TestEmbeddedLogsGoToHandler checks a child
// process's stderr stays empty). MetricsCollector and RegisterMetrics
// (metrics.go) export the node's flowmesh_* gauges, read from its own
// state at scrape time, on the embedding program's registry; they are the
// series flowmesh-node serves, which registers the same collector.
// RegisterRaftMetrics routes the process-global go-metrics (raft's and
// memberlist's timings, the write stages) there too. The package imports
// the Prometheus client but not gRPC (internal/metrics stays free of it).
//
// Shutdown order (Stop): stop accepting calls, stop the background loops,
// shut Raft down (waits for in-flight applies), stop gossip (without a
// leave message: others see a dead node), then flush and close the FSM.
package storage
