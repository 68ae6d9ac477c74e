// Package storage is the embeddable FlowMesh node: the founding API.
//
//	s, err := storage.New("./data")
//	err = s.Start(ctx)
//	defer s.Stop(context.Background())
//	factory := storage.NewResourceFactory(s.MetaStore())
//	stream, err := factory.CreateStream(ctx, "tenant1", "ns1", "events", 1)
//	offsets, err := s.StreamManager().WriteEvents(ctx, stream.GetPath(), events)
//
// A Storage runs a Raft node (a single-voter cluster by default) whose FSM
// (package fsm) applies every write to the local segment store. Writes are
// proposed through package cluster and acknowledged only once committed.
// Reads take a consistency level (flowmesh.WithConsistency): linearizable by
// default (read-index through the leader), or stale from local state.
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
// # Quotas
//
// SetQuota and Quota (quota.go) implement flowmesh.QuotaManager: SetQuota
// proposes an fsm SetQuota command, Quota is a linearizable read of the
// FSM's limits and use (package fsm enforces them in Apply). Config's
// DefaultQuota is never read by the FSM: the leader loop proposes its set
// fields as the cluster default ("*") once per leadership, when they differ
// from the replicated ones, so every replica enforces what the log says
// even if nodes' configurations differ (the last leader's then wins;
// between elections an admin's SetQuota of "*" stands). QuotaUsage and
// QuotaLimits read local state without waiting, for /metrics.
//
// # Clusters
//
// With Config.GossipAddr set, the node gossips (cluster.Membership) and
// joins Config.Join in the background; BootstrapExpect N > 1 forms a
// cluster once N fresh servers see each other, and the leader adds,
// promotes and removes servers as gossip reports them (cluster.Manage).
// Start then returns without waiting for a leader. Members, LeaderGRPC,
// Join, RemovePeer and TransferLeadership serve the operators' API; Leave
// takes the node out of the raft configuration and gossip before Stop (a
// follower asks the leader through the SetRemoveSelf hook, which the rpc
// layer sets; without it, it leaves gossip and the leader removes it).
// NotLeaderError.LeaderAddr carries the leader's gossiped gRPC address.
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
// Config.PeerServerTLS/PeerClientTLS put raft under mutual TLS against the
// peer CA. Memberlist stays outside TLS, so with peer TLS and gossip on a
// GossipKey is required: memberlist encrypts its UDP packets and TCP
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
// Config.RaftLimits, GossipMaxStreams and GossipMaxStreamBytes pass the
// transport budgets to cluster (see cluster's doc, "Transport budgets");
// TransportStats reports their use for /metrics.
//
// # Disk full
//
// An I/O error inside Apply is fatal by design (cluster's FSM contract:
// a replica that skipped an entry would diverge), so a full disk must be
// kept from Apply rather than handled in it, and the check cannot be in
// Apply either: free space differs between replicas and Apply must stay
// deterministic. The model is etcd's NOSPACE alarm: admission before
// proposing, cluster-wide.
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
//     which would otherwise replicate entries the follower fails to apply.
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
//   - The alarm clears at the first check with free >= reserve, here and,
//     through gossip (MetaRefresh, 1 s), on the other nodes: a write is
//     admitted again within about two seconds of space returning. There
//     is no hysteresis; a node that hovers at its reserve flaps between
//     refusing and accepting growth, which is harmless.
//
// The check is advisory at the edge (a write admitted just before the
// alarm rises still commits) and that is what the reserve is for: it must
// exceed what can be written in about two check periods plus a snapshot.
// Visible: Disk and LocalDisk (this node and every member's alarm) feed
// /metrics (flowmesh_disk_free_bytes, flowmesh_disk_reserve_bytes,
// flowmesh_disk_alarm per node), /readyz (still 200, with a
// Flowmesh-Alarm: NOSPACE header) and the cluster status (alarms).
//
// Start-up on a full disk: with the reserve the node's own writes never
// take the disk to zero, and a restart raises the alarm before the first
// write. With zero bytes free (something else filled the disk) a node
// that stopped cleanly still starts and serves reads (measured on tmpfs:
// TestDiskFullRestartAtZeroFree): segment.Open rewrites an index only when
// it changed, the CLEAN markers are only removed, the bolt raft store writes its
// vote and the leader's no-op into pages bolt already holds. What cannot
// work at zero bytes: a node that crashed (its last segments' indexes are
// rebuilt at open: Start fails with ENOSPC naming the file), a fresh node
// (it writes DataDir/node-id and creates its stores), the FSM checkpoint
// of Stop and the flush loop (logged; the next start replays the raft
// log), snapshots, and any write at all, deletes included: each appends
// to the raft log and the segment store, and an I/O error in Apply stops
// the node by design. Free some space first; the alarm then clears.
//
// Shutdown order (Stop): stop accepting calls, stop the background loops,
// shut Raft down (waits for in-flight applies), stop gossip (without a
// leave message: others see a dead node), then flush and close the FSM.
package storage
