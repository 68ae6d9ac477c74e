// Command jepsen is FlowMesh's fault-injection test harness: it runs
// concurrent clients against a cluster of real node processes, injects
// faults on a seeded schedule, records every operation, and checks the
// history for lost, duplicated, reordered or non-linearizable results.
//
// # Layout
//
//	jepsen           main: flags, wiring, exit status (this package)
//	jepsen/runner    one run end to end: node processes (Cluster), clients,
//	                 nemesis loop, heal, convergence, final phase, report
//	jepsen/workload  kv, queue, stream, txn, lock: client steps, final reads, checker
//	jepsen/fault     executors: kill, pause, partitions, netem, membership
//	jepsen/netns     a network namespace per node, bridge, iptables, tc
//	jepsen/history   the Op model, the concurrent Recorder, history.jsonl,
//	                 and Classify (SDK error -> fail or info)
//	jepsen/checker   one checker per workload (kv.go, queue.go, stream.go, txn.go, lock.go);
//	                 the anomaly definitions are the doc comments there
//	jepsen/nemesis   the fault schedule: kinds, targets, Generate(seed)
//	jepsen/report    jepsen/store/<test>/<time>/: results.json, history,
//	                 plots, node logs, latest links
//	jepsen/store     run output (git-ignored)
//	RESULTS.md       recorded runs and findings
//
// # Usage
//
//	sudo go run ./jepsen --workload kv --nemesis kill,pause,partition --time 60s --nodes 3 --seed 7
//
// builds bin/flowmesh-node, prints the seed and the fault schedule, runs
// the test and prints the report directory and the verdict. Exit status:
// 0 valid, 1 invalid, 2 unknown, 3 the harness could not run. Without root
// (or with --net loopback) the nodes share 127.0.0.1 and only kill, pause
// and membership faults can run. --dry-run prints the schedule only;
//
//	go run ./jepsen --workload queue --visibility 2s --check jepsen/store/<test>/latest/history.jsonl
//
// checks a recorded history again, offline. --reads stale turns kv reads
// and stream polls into stale reads: with partitions the run must then be
// invalid, which tests the whole pipeline's ability to fail.
//
// # The lock workload
//
//	sudo go run ./jepsen --workload lock --nemesis kill,pause,partition --time 45s --nodes 3 --seed 204
//
// Fencing tokens under faults (issue 13). Every process takes one lock
// through the SDK (client/concurrency: a Session with --lock-ttl, default
// 1s, and a Mutex), writes one to eight times under it and releases it.
// Each write is one Txn: compare Mutex.IsOwner (the lock key's create
// revision is still the token), then put the protected key and append an
// event, both "<token>/<process>-<n>". One hold in six stalls for 1.5 TTL
// before a write, its keep-alives stalled too (a GC pause): the lock
// expires, another process takes it, and the stalled holder writes as if
// it still held it. Node pauses and partitions make holders lose their
// lease on their own. The checker (checker/lock.go) reads the committed
// order from the final read of the events stream and requires: tokens
// never go backwards in it (token-regression); no ok write carries a
// token lower than an ok acquire or write that completed before it was
// sent (stale-write); acquired tokens only grow in real time
// (token-order); one token, one process (shared-token); every ok write's
// event present once, no event of a refused or unattempted write; the
// protected key ends as the last event says. Info writes count where the
// stream shows them and make no real-time claim. The deliberate bug
// no-fence (FLOWMESH_FAULTS, flowmesh_faults build) lets every
// create-revision compare hold; TestDeliberateBugIsCaught/no-fence
// requires token-regression.
//
// # What a run does
//
//  1. Build the node binary; create one network namespace per node (veth
//     to a bridge of the run's own; netns package); start N node processes
//     with --bootstrap-expect N, --join, --leave-on-terminate, each with its
//     data dir and log under the run's directory; wait until every node is
//     ready, agrees on the leader and has applied the same index.
//  2. Create the workload's resource; start --concurrency client
//     processes, each with its own SDK client whose endpoint list starts at
//     node p mod N, and its own random source seeded from (seed, p). Each op
//     is recorded: Invoke before the SDK call, then OK or Error (classified
//     by history.Classify), bounded by --op-timeout.
//  3. Meanwhile the nemesis loop applies each scheduled fault at its Start
//     (leader targets resolved through the nodes' Status) and undoes it at
//     its Stop, recording the windows actually applied for the plots and
//     the linearizability visualisation.
//  4. After --time: heal everything (resume, restart, rejoin, flush rules
//     and qdiscs), wait up to --recover for convergence, then the final
//     phase (kv: linearizable read of every key and a per-node digest of a
//     stale List; queue: drain; stream: stale read of every partition from
//     offset 0 on every node; txn: every balance, the whole ledger, a
//     drain of the jobs; lock: the whole events stream and the protected
//     key). A cluster that did not converge turns a valid verdict into
//     unknown.
//  5. Check, write the report, link latest, and on the way out (also on
//     error or SIGINT/SIGTERM) kill the nodes it started and remove the
//     namespaces, the bridge and its FORWARD rule.
package main
