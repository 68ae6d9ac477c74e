package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
	"github.com/flowmesh/flowmesh/jepsen/nemesis"
)

// exitCannotRun is the status when the harness could not run at all;
// 0, 1 and 2 are the verdicts (checker.Validity.ExitCode).
const exitCannotRun = 3

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("jepsen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workload := fs.String("workload", "kv", "kv, queue or stream")
	faults := fs.String("nemesis", "kill,pause,partition", "comma-separated faults: "+fmt.Sprint(nemesis.AllKinds)+", or partition, netem, all, none")
	length := fs.Duration("time", 60*time.Second, "length of the fault phase")
	nodes := fs.Int("nodes", 3, "cluster size")
	seed := fs.Int64("seed", time.Now().UnixNano(), "seed of the schedule (printed; the same seed gives the same schedule)")
	concurrency := fs.Int("nemesis-concurrency", 1, "faults active at once (combined faults for long runs)")
	dryRun := fs.Bool("dry-run", false, "print the seed and the fault schedule, then exit")
	check := fs.String("check", "", "check a recorded history.jsonl offline instead of running")
	visibility := fs.Duration("visibility", 5*time.Second, "queue: the visibility timeout the workload used")
	clockSlack := fs.Duration("clock-slack", time.Second, "queue: how much earlier than --visibility a reservation may expire")
	if err := fs.Parse(args); err != nil {
		return exitCannotRun
	}
	switch *workload {
	case "kv", "queue", "stream":
	default:
		fmt.Fprintf(stderr, "jepsen: unknown workload %q\n", *workload)
		return exitCannotRun
	}

	if *check != "" {
		return checkFile(*check, *workload, checker.QueueConfig{Visibility: *visibility, ClockSlack: *clockSlack}, stdout, stderr)
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
	fmt.Fprintln(stderr, "jepsen: running against a cluster is not built yet; use --dry-run or --check")
	return exitCannotRun
}

func checkFile(path, workload string, qcfg checker.QueueConfig, stdout, stderr io.Writer) int {
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
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	fmt.Fprintf(stdout, "%s\n", b)
	fmt.Fprintf(stderr, "jepsen: %s: %d ops, %s\n", workload, len(ops), res)
	return res.Valid.ExitCode()
}
