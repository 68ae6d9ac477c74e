// Package fsm is FlowMesh's replicated state machine: it implements
// raft.BatchingFSM and applies committed commands to the local segment store.
//
// # Commands
//
// A log entry is a logentry.Entry (package internal/logentry, the frame
// package cluster writes): the leader's stamp and a group of encoded
// fsmpb.Command messages. The FSM imports that leaf, not cluster: it
// depends on raft's FSM interfaces and the frame only, and the check that it
// satisfies cluster.FSM lives in a test (cluster_test.go). The FSM returns one result per command, either a
// *Result or an error. Op codes are the field numbers of Command.op and are
// append-only.
//
// A Txn command (txn.go) evaluates its compares, then checks every op of
// the branch that runs against the state as its earlier ops leave it (an
// overlay of keys put and deleted, receipts used, dedup IDs seen) and the
// quota the whole branch needs, and only then applies the ops with the
// single commands' code: all or nothing, identically on every replica. Its
// enqueued jobs are named "index.pos.op".
//
// # Determinism
//
// Apply uses no local clock (time is the entry's stamp), no randomness and
// never depends on map order. IDs derive from the raft index: job IDs are
// "<index>.<position>". KV revisions come from one FSM-wide counter, so every
// change has its own revision even when group commit puts several changes in
// one log entry; revisions only grow.
//
// # Validation
//
// The node checks every call with the root package's check of its
// operation (flowmesh.ValidatePut, ValidateWriteEvents, ...) before it
// proposes. Apply checks what needs the state (a stream's partition count,
// a queue's own max_payload, a reservation's default visibility) and, for
// the commands whose bad values would corrupt the state (a KV key that is
// not UTF-8, a resource or quota definition), runs the same root check
// again, so the error is the node's word for word.
//
// ValidateResource runs before proposing and again at apply. It refuses a
// dead-letter queue in another tenant (flowmesh.ValidateDeadLetterQueue). A
// log written before that check cannot hold such a create from a secured
// cluster; a replayed one from an open cluster is refused on every node
// alike, so replicas stay identical.
//
// # KV history
//
// Each KV store keeps its latest changes for Watch (history.go): at most
// the store's HistoryRevisions and flowmesh.MaxKVHistoryBytes of them,
// evicted oldest first as changes arrive, and aged out by time through
// KVTrimHistory (op 43, kvhistory.go). The leader plans that command from
// the stamps of the events (PlanHistoryTrim, on its retention tick) and
// names a revision; Apply drops the events below it, moves the store's
// oldest watchable revision there (a Watch from before gets a
// *flowmesh.CompactedError, as after eviction) and logs a history-start
// KVRecord, so replay after a restart drops them at the same place. The
// age is never judged in Apply: every replica keeps the same history, and
// StateHash covers it. A node of a version without op 43 refuses it as an
// unknown op and changes nothing (it keeps the history until eviction).
// Compaction keeps each history event's stamp (KVRecord.stamp); a record
// without one (written before it existed) is as old as its segment record.
//
// # Quotas
//
// Per-tenant quotas (quota.go) are checked inside Apply, against state
// every replica holds alike, so every replica refuses the same writes with
// the same *flowmesh.QuotaError. The limits are replicated state: SetQuota
// (op 60) merges a tenant's own fields ("*" is the cluster default; an
// unset field inherits it, 0 is unlimited). They are in the checkpoint
// (Checkpoint.quotas) and in StateHash. No node configuration is read in
// Apply: a node's --default-quota-* flags reach the FSM only as a SetQuota
// its leader proposes.
//
// Use is counted from the stores: a stream partition's retained event
// bytes (payload + key + headers, from the logical earliest offset), a
// queue's job payloads and jobs (dead ones too: they are held until purged
// or redriven, and moving one to a dead-letter queue of the same tenant
// changes no total), a KV store's live keys and their key+value bytes
// (history is bounded separately). Each store keeps its own counts, updated
// where its state changes (including replay on open), and points at its
// tenant's totals once attached; create and delete add and remove a
// resource's counts whole. A trim subtracts the bytes of the trimmed
// records, read from the log before they are deleted. On open, queue and
// KV counts come from the replay that rebuilds their indexes; stream bytes
// are kept per partition in the checkpoint (PartitionState.bytes, with
// usage_counted set) because a stream is not scanned on open; a checkpoint
// without usage_counted (written before quotas) makes Open count them by
// reading the logs once. Checks run before anything is staged, in a fixed
// order (stored_bytes, resources, partitions, kv_keys, queue_jobs), so a
// refused command changes nothing; an EnqueueBatch counts only the items
// that are not dedup repeats. Only growth is checked: deletes, acks, trims
// and expiries always apply.
//
// The memory quota is cluster-wide: the cluster default's memory_bytes
// (flowmesh.DefaultMemoryQuota while unset, so it is on without any
// configuration; a tenant cannot set one) bounds FSM.memory, the sum over
// all tenants of what the state machine holds in memory: KV keys+values
// and job payloads plus the fixed flowmesh.MemoryPer* charges per key,
// job, resource, partition and consumer-group offset (quota.go). Each
// tenant's share is its usage's MemoryBytes. It is checked last, after the
// tenant's own quotas, on the same growth (plus creates and a group's
// first offset) and refused with a QuotaError whose tenant is "*". The
// default and the charges are compiled in and every replica applies the
// same ones: changing them changes which writes replicas refuse, so that
// needs a new op, not an edit. For the same reason a rolling upgrade from a
// version without the memory quota is safe only while the memory-resident
// state stays under the default: an upgraded replica would refuse a write
// past it that an older leader accepted.
//
// Acks, nacks and touches (single, batched or in a Txn) match only the
// exact attempt of a job's current reservation (queueState.current): there
// is no wildcard, so a holder whose reservation expired never takes the
// job from the worker that holds it now. An attempt 0 once meant "the
// current reservation" (the founding API's RemoveFromInFlight); package
// storage now resolves that call's job ID to a receipt. An upgraded
// replica refuses such an entry that an older leader committed and older
// replicas applied: upgrade once the log holds none (after a snapshot), or
// all replicas together.
//
// A queue's heaps drop stale entries (left by touches, nacks, acks and
// purges) once they hold more than twice its jobs (queueState.compactHeaps):
// otherwise they only leave on reaching the top, up to MaxVisibility or
// MaxDelay later, holding the payloads of jobs already gone.
//
// # Durability and the replay guard
//
// Apply does not fsync. Flush (on the node's FlushInterval and inside
// Snapshot) fsyncs every log and then writes checkpoint.pb atomically: the
// index D such that every store holds exactly the effects of the entries <= D,
// plus the small state (resources, consumer offsets, logical earliest offsets,
// the dedup window, the KV revision counter). On Open every log is cut back to
// D (segment.Log.TruncateAfterIndex) and in-memory state is rebuilt from the
// logs; ApplyBatch then skips entries <= D, so raft's replay after a restart
// applies nothing twice.
//
// Every log is opened with Config.Segment, whose Files (one
// segment.FileCache per node) bounds the descriptors all of them hold:
// Apply never fails for want of descriptors however many partitions
// clients created, so no admission check on the leader is needed for them
// and replicas cannot diverge on a local resource limit.
//
// Layout under Config.Dir:
//
//	checkpoint.pb          fsmpb.Checkpoint
//	r/<id>/p<N>/           stream partition N (segment log of events)
//	r/<id>/log/            queue or KV store: segment log of fsmpb.QueueRecord / KVRecord
//	trash/<id>-<index>/    a deleted resource, removed once a checkpoint passes index
//	staging/<index>/       hard links captured by Snapshot, released after Persist
//
// The layout is this package's own: callers ask (ResourceBytes) rather than
// join these names themselves.
//
// # Snapshots
//
// Snapshot flushes, rolls every active segment, and hard-links the sealed
// files plus the checkpoint into staging: its cost grows with the number of
// files, not bytes. Persist links them into the snapshot store's directory
// (or streams them with internal/snapdir). Restore reads such a stream into a
// temporary directory, verifies it (CheckSnapshotDir), and swaps it in.
//
// CheckSnapshotDir is the one definition of a restorable snapshot's
// checkpoint: present, non-empty, decodable, at an index in 1..MaxInt64
// and passing the checks Open applies to its own (checkCheckpoint). It
// reads only. Package cluster calls it (as the FSM's CheckSnapshot) on
// uploads before raft sees them and on the snapshots it finds at start-up.
// A snapshot stream may carry root files that are not the FSM's (the
// cluster's cluster-id); Restore keeps them and Snapshot never links them.
//
// # Failures
//
// An I/O error inside Apply is fatal: the FSM calls Config.OnFatal (by default
// it logs and exits the process) and never continues with diverged state.
// The failed entry does not count as applied; if OnFatal returns, the FSM
// refuses every later entry (an error wrapping the fatal one, nothing
// applied) and every checkpoint (Flush, Snapshot and Close return it), so
// the next Open recovers from the last checkpoint and raft's replay
// rewrites whatever part of the entry reached some of the logs.
//
// # File system
//
// The FSM's files and directories (checkpoint.pb, r/, trash/, staging/,
// compaction's renames) go through Config.FS, an internal/vfs.FS; nil is
// the operating system. Open hands it to every log it opens (as
// Config.Segment.FS, unless that is set). Tests use it to inject I/O
// errors into Apply and Flush (vfs.Injector) and to reopen the FSM from
// the image a crash would leave (vfs.MemFS.CrashClone), checking the
// invariant of "Durability and the replay guard": after a crash the
// stores hold exactly the entries <= the checkpoint's index and replay
// reaches the state of a replica that never crashed (vfs_test.go). Not
// yet through it: Persist and Restore (they stream with internal/snapdir
// or link into raft's snapshot store, on the OS) and CheckSnapshotDir; use
// vfs.Default with them.
//
// # Full disk
//
// A write that fails for want of space is not an error of the entry: every
// replica must apply it identically, so the FSM waits until it can. When
// the staged records of an entry (segment.ErrNoSpace) or a new resource's
// files (ENOSPC, EDQUOT) cannot be written, Apply calls Config.OnNoSpace
// once (the node releases its ballast and raises its alarm) and retries the
// same write, from where it failed, every 1 ms doubling to 1 s, holding the
// lock (so reads wait: the entry's effects are in memory, not yet on
// disk), until it succeeds. Stalled reports the wait. Abort (called by the
// node's Stop) makes a waiting Apply give up with flowmesh.ErrStopped for
// the batch; the FSM then writes no checkpoint (its memory is ahead of its
// stores) and the next Open recovers from the last one while raft replays
// the entries. A failed fsync is never retried: it stays fatal.
package fsm
