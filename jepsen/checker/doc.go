// Package checker decides whether a history is valid for its workload.
//
// Each workload has one file: kv.go (per-key registers, linearizability
// with porcupine, revisions, state hashes), queue.go (work-queue delivery),
// stream.go (partitioned logs), txn.go (transactions across KV, stream and
// queue) and lock.go (writes fenced by a lock's token). Each file's doc comments define every
// anomaly it reports exactly; the names are the keys of Result.Anomalies and
// part of results.json.
//
// A checker is a pure function of the history (and of the final state the
// runner gathered), so a history written to history.jsonl can be checked
// again offline. Ops of type Info count as "may or may not have happened";
// Fail ops as "did not happen"; the checkers never convict on an op whose
// effect is unknown.
package checker
