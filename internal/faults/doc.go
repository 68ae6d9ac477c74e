// Package faults holds test-only fault hooks for the fault-injection harness
// (jepsen/). They exist only in binaries built with the build tag
// flowmesh_faults; in every other build Enabled is false, ClockOffset is
// zero, CrashBeforeApply is nil and the other hooks are empty functions the
// compiler drops.
//
// The deliberate bugs and the crash-before-apply failpoint stay out of the
// hot paths: storage and fsm each read them once, when a node is built,
// into one value of their own (storage/bugs.go, fsm/bugs.go) that is empty
// in every other build, so an apply or a proposal makes no lookup.
//
// With the tag, the node reads:
//
//	FLOWMESH_FAULTS             comma-separated deliberate bugs to switch on:
//	  ack-before-commit           a KV put is acknowledged before it commits
//	  stale-linearizable          linearizable reads are served from local state
//	                              (on a follower too, without asking the leader)
//	  double-apply                the FSM forgets its checkpoint's replay guard
//	                              and request-dedup window on open: entries
//	                              replayed after a restart are applied a second
//	                              time (with the window kept, SDK request IDs
//	                              would hide the re-application)
//	  half-txn                    a transaction whose then-branch ran applies
//	                              all of its ops but the last (when it has two
//	                              or more and the last is a write), on every
//	                              replica alike, and is acknowledged as whole
//	  no-fence                    a transaction's create-revision compares always
//	                              hold: the fence of a lock's token
//	                              (concurrency.Mutex.IsOwner) lets a holder that
//	                              lost the lock write after its successor
//	FLOWMESH_CLOCK_OFFSET_FILE  a file holding a duration ("1.5s", "-300ms") added
//	                            to the node's clock (stamps, delays, visibility
//	                            timeouts, TTLs); re-read at most every 100 ms
//	FLOWMESH_CRASH_BEFORE_APPLY_FILE  when this file exists, the next batch of
//	                            committed entries makes the node exit (code 99)
//	                            after raft wrote them to its log and before the
//	                            FSM applies them; the file is removed first
//	FLOWMESH_CRASH_LOSE_UNSYNCED_FILE  polled every 50 ms; when this file
//	                            exists the node removes it, cuts every file
//	                            the segment store tracks back to its length
//	                            at its last successful fsync, writes a
//	                            one-line summary to stderr and to the file's
//	                            name + ".dropped", and exits (code 99) at
//	                            once, without any shutdown path
//
// The lose-unsynced crash is a SIGKILL that also loses the page cache, as a
// power cut would. The segment store (segment/unsynced_faults.go) tracks,
// per open log, its active segment's .log and .idx and their synced
// lengths (created and never synced: 0); sealed segments were synced whole
// by the roll that sealed them and a closed log by Close. The cut takes
// every tracked log's writer lock first, so no append races it, and keeps
// it until the exit. Since the FSM fsyncs segments only when it
// checkpoints, every crash loses applied (often acknowledged) entries from
// the segments, and the raft log replay above the checkpoint index must
// bring them back exactly once.
//
// Limits: bytes a previous incarnation left unsynced count as synced when
// a log is opened (the tracker cannot know better); directory entries are
// not tracked (a segment created and never synced is cut to 0 bytes, not
// removed); raft's own log is not cut. Neither raft log store has unsynced
// acknowledged data to lose: the bolt store commits every StoreLogs with an
// fsync, and raft-wal writes then fdatasyncs every append before it
// returns (the only unsynced bytes are those of an append in flight, which
// raft has not counted yet). BoltDB's mmap rules out cutting its file under
// a live process; raft-wal could be wrapped through its SegmentFiler/VFS
// options without forking it, which would only add that torn in-flight
// append.
//
// The harness proves it can fail by running against such bugs and requiring
// an invalid verdict.
package faults
