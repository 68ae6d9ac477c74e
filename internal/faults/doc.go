// Package faults holds test-only fault hooks for the fault-injection harness
// (jepsen/). They exist only in binaries built with the build tag
// flowmesh_faults; in every other build Enabled is false and ClockOffset is
// zero, and the compiler drops the hooks.
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
//	FLOWMESH_CLOCK_OFFSET_FILE  a file holding a duration ("1.5s", "-300ms") added
//	                            to the node's clock (stamps, delays, visibility
//	                            timeouts, TTLs); re-read at most every 100 ms
//	FLOWMESH_CRASH_BEFORE_APPLY_FILE  when this file exists, the next batch of
//	                            committed entries makes the node exit (code 99)
//	                            after raft wrote them to its log and before the
//	                            FSM applies them; the file is removed first
//
// The harness proves it can fail by running against such bugs and requiring
// an invalid verdict.
package faults
