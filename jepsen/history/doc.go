// Package history is the operation history of a Jepsen-style test: what each
// client process asked of the system, when, through which node, and what came
// back.
//
// # Model
//
// An [Op] is one operation from invocation to completion. Its Type is the
// outcome: [OK] (it happened, with the recorded result), [Fail] (it provably
// did not happen) or [Info] (unknown: it may or may not have happened, now or
// later). A history is the ops of a test in invocation order. Times are
// monotonic durations since the test began, so invocation and completion
// times of different processes compare in real time.
//
// Written values are unique over a test (every write, enqueue and append
// carries a value no other op carries), so the checkers can tell which write
// a read observed. The empty value means "nothing": an absent key, an empty
// reserve.
//
// A [Recorder] hands out a [Handle] at invocation and takes the outcome at
// completion; it is safe for concurrent use by every client process. Ops
// still pending when the history is taken are reported as Info: their
// client gave up waiting, the system may still apply them.
//
// # Format
//
// history.jsonl holds one JSON object per line, an Op as encoded by
// encoding/json, in Index order. Field names are part of the format: add
// fields, never rename or reuse them.
//
// # Classifying errors
//
// [Classify] turns an SDK error into Fail or Info. The rule is conservative:
// an error is Fail only when it proves the operation changed nothing. See its
// documentation for the table.
package history
