// Command jepsen is FlowMesh's fault-injection test harness: it runs
// concurrent clients against a cluster of real node processes, injects
// faults on a seeded schedule, records every operation, and checks the
// history for lost, duplicated, reordered or non-linearizable results.
//
// # Layout
//
//	jepsen/history   the Op model, the concurrent Recorder, history.jsonl,
//	                 and Classify (SDK error -> fail or info)
//	jepsen/checker   one checker per workload (kv.go, queue.go, stream.go);
//	                 the anomaly definitions are the doc comments there
//	jepsen/nemesis   the fault schedule: kinds, targets, Generate(seed)
//	jepsen/report    jepsen/store/<test>/<time>/: results.json, history,
//	                 plots, node logs, latest links
//	jepsen/store     run output (git-ignored)
//	RESULTS.md       recorded long runs
//
// # Usage today
//
// What does not need a cluster works now:
//
//	go run ./jepsen --workload kv --nemesis kill,pause,partition --time 60s --nodes 3 --seed 7 --dry-run
//
// prints the seed and the fault schedule the run would use, and
//
//	go run ./jepsen --workload queue --visibility 5s --check jepsen/store/<test>/latest/history.jsonl
//
// checks a recorded history again, offline, printing the result as JSON.
// Exit status: 0 valid, 1 invalid, 2 unknown, 3 the harness could not run.
// Without --dry-run or --check the command reports that the cluster runner
// is not built yet and exits 3.
//
// # How the runner plugs in
//
// The runner is the part that needs real nodes. It lives in this package
// (main wires; the pieces stay in their own packages) and does, in order:
//
//  1. Start N node processes (cmd/node) in their own network namespaces,
//     wait for a leader, create the stream, queue or KV store.
//  2. history.NewRecorder(); start one goroutine per client process. Each
//     op: h := rec.Invoke(history.Op{Process, F, Key, Value, Node, ...});
//     call the SDK with a per-op timeout; then h.OK(fill results) or
//     h.Error(err, fill) — Error classifies through history.Classify, so
//     the fail/info rule lives in one place. Written values are unique
//     and non-empty ("<process>-<n>"). A process whose op ended Info may
//     continue; the checkers do not assume otherwise. Conventions the
//     checkers rely on: a kv Get answering ErrNotFound is an OK read of ""
//     at revision 0 (record it with h.OK, not h.Error); cas is Put with
//     IfRevision = Expect; a reserve that finds nothing is OK with an
//     empty JobID; acks and nacks go through Ack/Nack with the delivery's
//     Receipt (not RemoveFromInFlight, which names no attempt) and carry
//     its payload as Value; an append is one event, and Partition is
//     where it went; MaxAttempts is set high enough that no job goes dead.
//  3. nemesis.Generate(cfg) (print it with the seed), and an executor per
//     Kind that applies Fault at Start and undoes it at Stop, on
//     rec.Now()'s clock. Fault windows for the report are
//     Schedule.Windows(), or better the times the executor actually
//     applied and healed each fault.
//  4. At the end of the schedule: heal everything, wait for the cluster to
//     recover (a leader, all nodes applied the same index), then the final
//     phase: kv — read every key linearizably and collect each node's
//     state hash; queue — drain (reserve+ack) until the queue stays empty
//     longer than the visibility timeout; stream — FinalRead of every
//     partition from offset 0 on every node (stale reads, paging to the
//     end, one op with the whole partition).
//  5. checker.CheckKV / CheckQueue / CheckStream on rec.History(), with
//     KVConfig.VisualizationPath = run.Path(report.LinearizabilityFile)
//     and the fault windows.
//  6. report.Open, WriteHistory, WritePlots, CopyNodeLog per node,
//     WriteResults(Results{..., Checks, Nemesis}) after Summarize,
//     LinkLatest; exit with Results.Valid.ExitCode().
package main
