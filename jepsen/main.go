package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
	"github.com/flowmesh/flowmesh/jepsen/nemesis"
	"github.com/flowmesh/flowmesh/jepsen/runner"
	wl "github.com/flowmesh/flowmesh/jepsen/workload"
)

// exitCannotRun is the status when the harness could not run at all;
// 0, 1 and 2 are the verdicts (checker.Validity.ExitCode).
const exitCannotRun = 3

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jepsen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workload := fs.String("workload", "kv", "kv, queue, stream, txn or lock")
	faults := fs.String("nemesis", "kill,pause,partition", "comma-separated faults: "+fmt.Sprint(nemesis.AllKinds)+", or partition, netem, all, none")
	length := fs.Duration("time", 60*time.Second, "length of the fault phase")
	nodes := fs.Int("nodes", 3, "cluster size")
	seed := fs.Int64("seed", time.Now().UnixNano(), "seed of the schedule (printed; the same seed gives the same schedule)")
	concurrency := fs.Int("nemesis-concurrency", 1, "faults active at once (combined faults for long runs)")
	dryRun := fs.Bool("dry-run", false, "print the seed and the fault schedule, then exit")
	check := fs.String("check", "", "check a recorded history.jsonl offline instead of running")
	visibility := fs.Duration("visibility", 2*time.Second, "queue: the visibility timeout (of the run, or of the recorded history with --check)")
	clockSlack := fs.Duration("clock-slack", time.Second, "queue: how much earlier than --visibility a reservation may expire")
	rd := runner.DefaultConfig()
	wd := wl.DefaultConfig()
	clients := fs.Int("concurrency", rd.Concurrency, "client processes")
	opTimeout := fs.Duration("op-timeout", rd.OpTimeout, "bound of one client operation (retries included); a timeout is an info op")
	opDelay := fs.Duration("op-delay", rd.OpDelay, "mean pause between one process's operations")
	recover := fs.Duration("recover", rd.Recover, "how long the healed cluster may take to converge before the final reads")
	netMode := fs.String("net", rd.Net, "auto (a network namespace per node when root, else loopback), netns or loopback")
	binary := fs.String("binary", "", "node binary (default: build bin/flowmesh-node from ./cmd/node)")
	store := fs.String("store", "", "report store directory (default jepsen/store)")
	keepData := fs.Bool("keep-data", false, "keep the nodes' data directories in the report")
	tenantQuota := fs.String("tenant-quota", "", "quota of the workload's tenant, set after setup, e.g. kv-keys=50 or stored-bytes=1048576 (writes past it are refused: failures, not losses)")
	insecure := fs.Bool("insecure", false, "run the nodes without TLS and tokens (default: certs init, mTLS, gossip key and a bearer token, as the README's secure setup)")
	basePort := fs.Int("base-port", rd.BasePort, "loopback mode: node 0's gRPC port (each node takes four, 10 apart)")
	keys := fs.Int("keys", wd.Keys, "kv: keys in use at once")
	opsPerKey := fs.Int("ops-per-key", wd.OpsPerKey, "kv: operations per key before it is retired")
	partitions := fs.Int("partitions", wd.Partitions, "stream: partitions")
	accounts := fs.Int("accounts", wd.Accounts, "txn: accounts (at least 2)")
	balance := fs.Int64("balance", wd.Balance, "txn: each account's starting balance")
	lockTTL := fs.Duration("lock-ttl", wd.LockTTL, "lock: the TTL of the lock's sessions (at least 1s; stalling holders stall for 1.5 TTL)")
	buildTags := fs.String("build-tags", "", "go build tags for the node binary (test hooks, deliberate bugs)")
	var nodeEnv, nodeFlags stringList
	fs.Var(&nodeEnv, "node-env", "KEY=VALUE added to every node's environment (repeatable)")
	fs.Var(&nodeFlags, "node-flag", "extra flag for every node, e.g. --node-flag=--raft-log-store=wal (repeatable)")
	reads := fs.String("reads", "linearizable", "consistency of kv reads and stream polls: linearizable, leader or stale (stale is a self-test: partitions must then make the run invalid)")
	if err := fs.Parse(args); err != nil {
		return exitCannotRun
	}
	switch *workload {
	case "kv", "queue", "stream", "txn", "lock":
	default:
		fmt.Fprintf(stderr, "jepsen: unknown workload %q\n", *workload)
		return exitCannotRun
	}
	if *lockTTL < time.Second {
		fmt.Fprintf(stderr, "jepsen: --lock-ttl %v is below 1s\n", *lockTTL)
		return exitCannotRun
	}

	if *check != "" {
		tcfg := wl.TxnCheckConfig(wl.Config{Accounts: *accounts, Balance: *balance}, true)
		lcfg := wl.LockCheckConfig(wl.Config{})
		return checkFile(*check, *workload, checker.QueueConfig{Visibility: *visibility, ClockSlack: *clockSlack}, tcfg, lcfg, stdout, stderr)
	}

	kinds, err := nemesis.ParseKinds(*faults)
	cfg := nemesis.DefaultConfig()
	cfg.Seed, cfg.Nodes, cfg.Kinds, cfg.Duration, cfg.Concurrency = *seed, *nodes, kinds, *length, *concurrency
	var sched nemesis.Schedule
	if err == nil {
		sched, err = nemesis.Generate(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCannotRun
	}
	fmt.Fprintf(stdout, "jepsen: workload %s, %d nodes, seed %d\n%s", *workload, *nodes, *seed, sched)
	if *dryRun {
		return 0
	}
	consistency, ok := map[string]flowmesh.Consistency{"linearizable": flowmesh.Linearizable, "leader": flowmesh.Leader, "stale": flowmesh.Stale}[*reads]
	if !ok {
		fmt.Fprintf(stderr, "jepsen: unknown --reads %q\n", *reads)
		return exitCannotRun
	}
	quota, err := runner.ParseQuota(*tenantQuota)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitCannotRun
	}
	rcfg := runner.Config{
		Workload: *workload, Schedule: sched, Nemesis: *faults, Nodes: *nodes, Time: *length,
		Concurrency: *clients, OpTimeout: *opTimeout, OpDelay: *opDelay, Recover: *recover,
		Net: *netMode, Binary: *binary, BuildTags: *buildTags, NodeEnv: nodeEnv, NodeFlags: nodeFlags, Store: *store, BasePort: *basePort, KeepData: *keepData, Insecure: *insecure, Quota: quota,
		Command: append([]string{"go", "run", "./jepsen"}, args...), Seed: *seed,
		WorkloadCfg: wl.Config{Keys: *keys, OpsPerKey: *opsPerKey, Visibility: *visibility, Partitions: *partitions, Accounts: *accounts, Balance: *balance, LockTTL: *lockTTL, Reads: consistency},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, err := runner.Run(ctx, rcfg, stderr)
	if out.Dir != "" {
		fmt.Fprintf(stdout, "jepsen: report %s\n", out.Dir)
	}
	if err != nil {
		fmt.Fprintln(stderr, "jepsen:", err)
		fmt.Fprintf(stdout, "jepsen: seed %d: the harness could not run (exit %d)\n", *seed, exitCannotRun)
		return exitCannotRun
	}
	fmt.Fprintf(stdout, "jepsen: seed %d: %s\n", *seed, out.Valid)
	return out.Valid.ExitCode()
}

func checkFile(path, workload string, qcfg checker.QueueConfig, tcfg checker.TxnConfig, lcfg checker.LockConfig, stdout, stderr io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintln(stderr, "jepsen:", err)
		return exitCannotRun
	}
	ops, err := history.ReadJSONL(f)
	err = errors.Join(err, f.Close())
	if err != nil {
		fmt.Fprintln(stderr, "jepsen:", err)
		return exitCannotRun
	}
	var res checker.Result
	switch workload {
	case "kv":
		res = checker.CheckKV(ops, checker.KVConfig{})
	case "queue":
		res = checker.CheckQueue(ops, qcfg)
	case "stream":
		res = checker.CheckStream(ops, checker.StreamConfig{})
	case "txn":
		// The drain is taken as finished: a recorded history does not say.
		res = checker.CheckTxn(ops, tcfg)
	case "lock":
		res = checker.CheckLock(ops, lcfg)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	fmt.Fprintf(stderr, "jepsen: %s: %d ops, %s\n", workload, len(ops), res)
	return res.Valid.ExitCode()
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }
