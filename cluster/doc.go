// Package cluster owns the raft node: its log and stable store
// (bbolt in raft-boltdb v2's file layout for new data dirs, raft-wal when
// asked for; "Log store" below), behind a 64-entry log cache: entries are up to 512 KiB,
// so it holds at most 32 MiB; logCacheEntries), a hard-link snapshot
// store, the TCP transport (mutual TLS when configured) under transport
// budgets, group commit of writes, and the linearizable
// read barrier, gossip membership (Membership, over hashicorp/memberlist),
// bootstrap-expect and the leader's reconciliation of gossip with the raft
// configuration (Manage), and the fsync watchdog.
//
// # Configuration
//
// Config is who the node is and what it is wired to (ID, DataDir,
// BindAddr, hooks) and embeds Options, the raft settings an operator
// tunes (storage.Config.Raft); MembershipConfig embeds GossipOptions
// (storage.Config.Gossip) the same way. Each has DefaultOptions /
// DefaultGossipOptions, EnsureDefaults and Validate here, so the node
// derives none of their defaults.
//
// # Log store
//
// DataDir/raft holds one of two stores (logstore.go), chosen when the dir
// is made and kept for its life: what is on disk decides when
// Config.LogStore is "", and naming the other store is an error.
//
//   - raft-wal (LogStoreWAL, raft/wal/; the default for a new dir):
//     preallocated 8 MiB segment files (WALSegmentSize), one fsync per StoreLogs (plus a
//     bbolt commit to its meta database, wal-meta.db, when a segment
//     rolls or the head is compacted). The stable store (CurrentTerm, LastVoteTerm, LastVoteCand)
//     is that meta database, fsynced on each write. raft-wal checks a CRC
//     only over the last batch it recovers after a crash, so walStore adds
//     a CRC-32C of every entry (in raft.Log.Extensions) and GetLog refuses
//     an entry that fails it; an error, never a changed entry, reaches
//     raft. walStore also works around five faults of raft-wal v0.4.0:
//     a segment sealed by a tail truncation (raft dropping a follower's
//     conflicting suffix) got no index block, and the next start failed
//     to read the log ("sealed segment has no index block",
//     hashicorp/raft-wal#31; repairTruncatedSegments copies it into a
//     sealed segment before Open); DeleteRange raced the background roll
//     that follows a sealing append and broke the segment list (DeleteRange
//     waits for it, rollWait);
//     a crash between the append that seals a full segment and the
//     background roll left a store that failed every append
//     (repairSealedTail finishes the roll before Open); GetLog served
//     entries DeleteRange had removed from the head while they were still
//     in the tail segment (walStore.GetLog checks FirstIndex); and every
//     sealed segment kept its writer's commit buffer (sealFiler swaps in
//     a sealed reader). raft-wal is a raft.MonotonicLogStore (no gaps):
//     timedLogStore passes that on, so a follower that installs a
//     snapshot empties its log instead of compacting it. Its crash tests (logstore_crash_test.go): a tail cut at every
//     byte, bit flips, a power cut through powerCutVFS (which drops every
//     write since a file's last fsync; a failpoint that skips the fsync
//     makes that test fail), a SIGKILL loop whose child also truncates
//     its tail, and a model-based test of appends, tail truncations and
//     compactions across reopens (walrepair_test.go). With the flowmesh_faults
//     tag every WAL writes through a powerCutVFS that the lose-unsynced
//     crash of the fault harness cuts (walvfs_faults.go).
//   - bbolt (LogStoreBolt, raft/raft.db; boltstore.go): every StoreLogs
//     is one bbolt transaction, two fsyncs (data pages, then meta page).
//
// ConvertLogStore (flowmesh-node convert-log-store) moves a stopped
// node's dir from one store to the other and keeps the old one as a
// backup. BENCHMARKS.md ("issue 14") compares the two.
//
// # Membership
//
// Every node gossips its raft ID (the memberlist name), raft and gRPC
// addresses, bootstrap-expect value, version, whether it has raft state,
// whether it leads, and its applied index, as JSON metadata (nodeMeta; fields are only
// added), and its disk alarm (MembershipConfig.Disk; free bytes, rounded
// to a MiB, and reserve only while the alarm is up, so free space moving
// does not re-gossip the metadata every second: storage's doc, "Disk
// full"). Membership remembers dead and left members, which memberlist
// forgets, for an hour.
//
// The values reported to operators (Member, Readiness, Status, Server,
// RestoreOptions and the admin errors) are defined in the leaf package
// nodeadmin and named here by aliases (nodeadmin.go), so the gRPC server
// can serve them without importing this package.
//
// Readiness (ready.go; storage.Storage.Ready decides it): a follower
// compares its applied index with the leader's gossiped one, and a node
// that hears from no leader while gossip names one says it seems removed
// from the configuration.
//
// Bootstrap-expect N: a node without raft state bootstraps once exactly N
// alive members with the same N and no raft state are visible, with all N
// as voters sorted by ID. Every node computes the same configuration from
// the same view, so fresh nodes started together form one cluster; a node
// that sees any member with raft state waits to be added instead, and a
// node with raft state never bootstraps. Metadata is gossiped every
// second and at once after a node bootstraps or learns its cluster ID, and
// a plan must stay the same for BootstrapSettle (1 s) before it runs: a
// node started just after the others bootstrapped could otherwise see some
// of them as fresh (their state not gossiped yet, or a partial view while
// memberlist merges) and bootstrap a second cluster with them.
//
// The leader reconciles on every membership change and every
// ReconcileInterval: an alive member outside the configuration is added as
// a non-voter, and promoted once its gossiped applied index has stayed
// within PromoteLag of the commit index for PromoteStable; a member that
// left is removed; a member at a new raft address is re-added in place; a
// dead member stays unless DeadServerCleanup is on, which removes one dead
// voter per pass and never leaves fewer voters than a quorum of the
// configuration. A server the operator removed (Forget) is not added back
// for a minute while gossip still reports it.
//
// # Watchdog
//
// With FsyncStallTimeout positive (DefaultFsyncStallTimeout, 5s, unless
// set; negative turns the watchdog off), a leader whose raft log write (the fsync)
// has not returned after that long logs an error, asks raft for a
// leadership transfer and fences its transport: raft's leader loop writes
// the log synchronously, so a stuck leader cannot transfer leadership
// itself, but once its heartbeats and pipelined appends fail the followers
// elect a new leader. The fence lifts when leadership is lost. An idle
// leader writes a Barrier every FsyncStallTimeout so a stalled disk is
// noticed without client traffic.
//
// # Leader changes
//
// A raft observer (non-blocking: a change that finds its channel full is
// dropped rather than stall raft) records every change of leader this node
// observes in a ring of the last LeaderLogSize (50), in memory only, with
// this node's clock and term: LeaderChanges, shown by the admin console.
// Losing the leader (an election under way) is a change to "".
//
// # Transport security
//
// With Config.PeerServerTLS/PeerClientTLS the raft transport is a
// NetworkTransport over a TLS stream layer (tlsstream.go), still wrapped
// in fencedTransport. Both sides verify the other's certificate against the
// peer CA, the chain only: peers dial each other at IPs and advertised
// addresses that are not known when certificates are made, and the peer CA
// signs nothing but node certificates, so the chain is the proof of
// membership. Accept hands raft only connections whose handshake
// completed; each handshake runs in its own goroutine bounded by
// HandshakeTimeout (5 s), so a client that never finishes one, speaks plain
// TCP or has no certificate from the peer CA is closed before raft decodes
// a byte and cannot delay other peers. Without TLS any host that reaches
// the raft port can append entries (forged AppendEntries are applied).
//
// With peer TLS, reconcile adds, re-addresses or promotes a server only
// after a TLS handshake with its raft address succeeds (probePeer): a host
// that holds the gossip key but no peer certificate gossips, and could
// claim to be caught up, but never enters the raft configuration, where an
// unreachable voter would raise the quorum.
//
// # Transport budgets
//
// Inbound raft connections, over plain TCP and TLS alike, pass through a
// stream layer of ours (raftbudget.go): a listener that counts connections
// at accept, TLS handshakes included, and closes those beyond
// RaftLimits.MaxConnections at once; and, past any handshake, a connection
// wrapper whose frameScanner (rpcframe.go) follows raft's framing (a type
// byte and one msgpack value; InstallSnapshot's value followed by Size body
// bytes, Size read from the request's top-level map) over the bytes raft
// reads, before its decoder sees them. It closes the connection, counted
// by reason, when a request:
//
//   - declares or reaches more than MaxMessageBytes (default
//     MaxAppendEntries (64) x 512 KiB + 1 MiB: raft batches up to
//     MaxAppendEntries entries with no byte limit, and our entries stay
//     under 512 KiB, so a smaller bound would refuse our own leader);
//     declared lengths are refused at their header, so raft's decoder,
//     which grows a buffer toward the declared length as bytes arrive,
//     never sees one (8.3 GB allocated for 64 MiB sent without this);
//   - declares a str, bin or ext field over 576 KiB (maxFieldBytes: an
//     entry's Data is under 512 KiB): raft's decoder reads a long field in
//     256 KiB steps and copies what it has at each, so a field of n bytes
//     costs n*n/512 KiB of allocations, and bounding fields keeps a
//     request's cost proportional to its bytes;
//   - declares or holds more than MaxMessageValues (262144) msgpack values:
//     bytes alone do not bound the heap, since the decoder allocates a Log
//     (about 100 bytes) for a one-byte empty map; a legit AppendEntries of
//     1024 entries holds about 20000;
//   - would take what requests being read or held on all inbound
//     connections are charged past MaxInflightBytes (128 MiB). A request
//     is charged its bytes plus 128 per msgpack value (valueCharge: the
//     decoder may allocate a Log for a one-byte value), until the next
//     request starts on its connection (raft holds a request until it
//     answers). Our leader's pipeline has at most two 33 MiB requests in
//     flight to a follower. Measured on a node process: the heap stays
//     within about twice the budget (2000 connections each sending 1 MiB
//     of AppendEntries then stalling: 22 MB to 127 MB RSS; the budget
//     filled with 5 MiB requests: 303 MB; 64 connections of 262000 empty
//     entries: 176 MB, and 457 MB without valueCharge);
//   - is not a raft request (unknown type, the unused msgpack byte, nesting
//     deeper than 32, an InstallSnapshot without a Size).
//
// Deadlines are per read, not per request: IdleTimeout (10 min) between
// requests, ReadTimeout (30 s) inside one and before a connection's first
// request, and ReadTimeout on every write of a response. Why they are safe:
// the leader's heartbeat connection carries a request every
// HeartbeatTimeout/10 and its pipeline one every CommitTimeout; raft's
// sender puts a 10 s deadline on each RPC (InstallSnapshot: scaled by its
// size), so a live sender never leaves a 30 s gap; raft dials only to send
// at once. Raft's connection pool has no expiry, so a pooled connection
// (votes, TimeoutNow, non-pipelined AppendEntries) idle longer than
// IdleTimeout has been closed here and its next RPC fails once: raft
// retries AppendEntries, and an election may lose a round per stale pooled
// connection (at most 3 per peer); hence IdleTimeout is long and at least
// a minute. An InstallSnapshot body is not charged to any byte budget: it
// streams into the snapshot sink, which verifies it as it arrives.
//
// What cannot be bounded from outside raft, and is bounded otherwise: the
// heap one request costs is bounded by its bytes and values times the
// largest struct raft decodes a value into, not exactly; a request that
// trickles one byte per ReadTimeout keeps its connection (bounded by
// MaxConnections and the byte budgets); connections we dial (to configured
// peers) are not scanned; while a flood holds every slot, new inbound
// connections are refused (existing ones keep replicating), for
// ReadTimeout over plain TCP and HandshakeTimeout over TLS. Changing these
// needs raft's transport to frame requests with a length and to expire
// pooled connections.
//
// Gossip (gossipbudget.go) runs memberlist over its NetTransport wrapped by
// ours: inbound streams beyond MaxStreams (16) are closed at accept, at
// most MaxStreamBytes (4 MiB) are read from one, and a stream must send its
// first byte within 5 s. Our nodes never compress (EnableCompression off),
// so without a gossip key a packet, or part of a compound packet, or a
// stream that carries a compressed message is dropped before memberlist
// inflates it (a 37 KB LZW payload inflates to 48 MiB; six of them cost
// 770 MiB of allocations without this). With a key, messages are
// encrypted and cannot be inspected here: memberlist refuses unencrypted
// ones, and inflates an encrypted one (from a holder of the key) to at most
// 40 MiB, one packet at a time and one per stream. Nodes of an older
// version without a gossip key compress, and their compressed gossip is
// refused: upgrade all nodes, or use a key.
//
// # Write path and group commit
//
// Apply(ctx, cmd) queues cmd for a single batcher goroutine, which coalesces
// queued commands into one raft log entry (at most BatchMaxCommands commands
// and BatchMaxBytes encoded bytes; it lingers BatchLinger for more, never
// when that is 0), stamps it, and calls raft.Apply. Entries are pipelined:
// up to MaxInflightEntries are in flight. A partly filled entry waits while
// an entry is already in flight (full entries do not wait), so under load
// commands gather into large entries while an idle node still proposes a
// lone command at once. A responder goroutine waits
// for the futures in log order and hands each caller its own result.
//
// A caller whose ctx ends gets ctx.Err(); its command may still commit. The
// same holds for ErrShutdown and for a NotLeaderError after leadership was
// lost mid-flight, so retries must carry the same request ID (the FSM
// deduplicates).
//
// When ctx carries an OpenTelemetry span, Apply records a child span
// "raft.apply" from that span's TracerProvider, from the call to its
// result, with the command's encoded size (flowmesh.command.bytes) and,
// once committed, the entry's raft.log.index and raft.batch.commands. The
// package depends on the OpenTelemetry trace API only; without a span in
// ctx (tracing off, the default) the span is a no-op.
//
// # Log entry format
//
// A command entry is framed by package internal/logentry (its doc.go holds
// the stored format): the stamp and the commands group commit coalesced,
// opaque to this package. The frame lives in that leaf so the FSM, which
// decodes it, does not import this package.
//
// The stamp is max(now, previous stamp, FSM.LastStamp()+1), so log time
// never goes backwards, across leader changes and clock steps included: a
// new leader proposes nothing until a Barrier in its term has completed, so
// its FSM has applied every earlier entry and LastStamp is current. The
// FSM decodes entries with logentry.Decode and must use the stamp, never its own
// clock. For every LogCommand entry, FSM.ApplyBatch returns a []any with
// exactly one result per command, in order; an element that is an error is
// returned to that command's caller as the error. An entry whose result is
// a single error value fails all of its commands.
//
// # FSM contract
//
// AppliedIndex counts every log raft passes to ApplyBatch (LogConfiguration
// included). Raft never passes no-op and barrier entries; Cluster accounts
// for those itself (see WaitApplied). DurableIndex decides
// raft.Config.NoSnapshotRestoreOnStart: restore from the latest snapshot is
// skipped only when DurableIndex() >= that snapshot's index, in which case
// raft replays the log after the snapshot and the FSM skips entries at or
// below its durable index.
//
// # Reads
//
// ReadIndex is the read-index protocol: on the leader, wait until the
// leader has committed an entry of its own term (a raft.Barrier issued once
// per term; raft also commits a no-op on election), note the commit index,
// VerifyLeader (concurrent reads share one verification round that starts
// after they noted the index), check the term did not change, then wait
// until the local FSM has applied the noted index. Followers return a
// *flowmesh.NotLeaderError whose LeaderAddr is the leader's gRPC address
// when Config.GRPCAddrOf resolves it.
//
// # Snapshots
//
// SnapshotStore keeps each snapshot as <DataDir>/raft/snapshots/<id>/ with
// data/ and meta.json. meta.json holds the raft.SnapshotMeta plus a manifest
// of data/ (paths and sizes) and a CRC32C of that body; it is written last,
// via a temporary file and rename, after data/ has been fsynced. A
// directory without meta.json is incomplete: List ignores it and
// NewSnapshotStore removes it. Close reaps snapshots beyond SnapshotRetain
// (those being streamed are kept until their reader closes). meta.json
// also records whether the snapshot is local: taken by this node's FSM from
// entries it applied, rather than received as a stream (a leader's
// InstallSnapshot or a user restore).
//
// # Start-up and unusable snapshots
//
// List reports one snapshot, the one raft should start from. A snapshot is
// usable when its meta.json is readable, its files match the manifest, and
// the FSM accepts its checkpoint (SnapshotChecker; fsm.CheckSnapshotDir:
// present, non-empty, decodable, sane); each is checked once. When the
// newest is unusable, raft's own answer is to try older snapshots, which is
// the trap of hashicorp/raft#85: the state of an older snapshot plus the
// log is the newer state only if the log still holds every committed entry
// in between. So List falls back to an older snapshot P past unusable
// newer ones only when
//
//   - every skipped snapshot is local: its state is, by construction, P's
//     state plus the committed entries up to its index, which this node's
//     log held when it was taken (a received or restored snapshot is a
//     state no local log rebuilds: a user restore leaves a hole at its
//     burned index, an installed one replaced a log that may have held
//     uncommitted or missing entries); and
//   - the log store holds every index from P+1 up to the newest snapshot's
//     index (checked entry by entry: compaction keeps TrailingLogs below a
//     snapshot, so a previous snapshot more than that far back is gone).
//
// Committed entries are never rewritten, so replaying them from P is exact;
// raft then applies P+1.. as usual and the FSM skips what it already holds
// on disk (NoSnapshotRestoreOnStart follows the snapshot List returns). It
// logs a WARN naming the skipped snapshot and the one used. With no usable
// snapshot at all it starts from the log alone when that starts at index
// 1. Failing both, when the FSM's own files already hold the unusable
// snapshot's state (DurableIndex at least its index) and its meta.json is
// sound, raft starts on that snapshot's metadata without restoring it
// (NoSnapshotRestoreOnStart), with a WARN: the node cannot send a snapshot
// to a follower until it takes its next one. Otherwise New fails with an
// error naming the snapshot directory and what to do (restore the data
// dir from a backup, or remove the node, empty its data dir and let the
// leader send it a snapshot): a node that started from the wrong state
// would diverge silently. Corruption inside segment files that
// keeps their sizes is not seen here (no CRC of every byte is kept at rest,
// see below); it is left to the FSM's record checksums when the snapshot
// is restored.
//
// # Restoring an uploaded snapshot
//
// Restore (ClusterService.SnapshotRestore, leader only) never lets raft see
// an unverified byte: raft's user restore installs the snapshot before the
// FSM reads it and panics when the FSM refuses it, and the installed
// snapshot then fails every restart. The upload is staged in
// <DataDir>/raft/restore/ (emptied at start; at most SnapshotRestoreMaxBytes,
// 64 GiB by default, and exactly its declared size), decoded with every
// CRC checked, its checkpoint checked by the FSM, and its cluster ID
// compared with ours, one restore at a time. Only then does raft read it
// from the staged file. The index raft gives the restored snapshot is at
// least the checkpoint's (the FSM skips entries at or below it), never a
// number from the caller.
//
// Every snapshot's data/ holds a root file cluster-id with the ID of the
// cluster that holds it (see snapshotClusterIDFile): written when the
// snapshot is sealed, so part of the stream and covered by its CRCs. A
// snapshot of another cluster, or of no cluster (older snapshots), is
// refused with ErrForeignSnapshot unless RestoreOptions.ForceClusterID; a
// forced one is sealed with our ID and is ours from then on.
//
// The sink implements DirSink: an FSMSnapshot's Persist hard-links its
// immutable files into Dir() (cost scales with files, not bytes) and calls
// Close. Files in Dir() must never be modified afterwards, in the snapshot
// or through another link. Alternatively bytes written to the sink (raft's
// installSnapshot on a follower copies the leader's stream there) must be an
// internal/snapdir stream, decoded and verified into data/ as they arrive.
// Open streams data/ in that same format, after checking the files against
// the manifest; so FSM.Restore always reads a snapdir stream. Per-file
// CRC32Cs in the stream protect snapshots in transit; at rest, hard-linked
// files are covered by the FSM's own record checksums (computing a CRC of
// every byte at snapshot time would make cost scale with bytes).
//
// # Timing defaults
//
// HeartbeatTimeout 500ms and ElectionTimeout 500ms (a LAN), LeaderLeaseTimeout
// 250ms, CommitTimeout 5ms, MaxAppendEntries 64 (raft's default; it sets
// the largest AppendEntries, 64 x 512 KiB, and so MaxMessageBytes), SnapshotThreshold 16384
// entries checked every 30s, TrailingLogs 1.25 x SnapshotThreshold. Pre-vote
// is raft's default and stays on.
//
// # Lifecycle
//
// New opens everything and starts raft; Shutdown stops accepting work,
// waits for the batcher, responder and read-barrier goroutines (raft still
// running, so every proposed future is answered), then shuts raft down and
// closes the transport and boltdb. Raft's log output goes to the configured
// slog.Logger.
//
// Membership owns its goroutines the same way: the metadata refresher,
// JoinBackground's retries and every JoinContext's join (memberlist's join
// takes no context, so JoinContext returns when ctx ends and the join
// finishes in a goroutine Shutdown waits for; none starts after Shutdown
// began).
package cluster
