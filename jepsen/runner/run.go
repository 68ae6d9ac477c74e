// Package runner runs one jepsen test end to end: it builds and starts the
// node processes (each in its own network namespace when it can), runs the
// workload's client processes for the fault phase while a fault.Executor
// carries out the nemesis schedule, heals everything, waits for the
// cluster to converge, runs the final reads, checks the history and writes
// the report. Every process it starts is its own, and every fault it
// applies is undone on the way out, also after an error or a signal.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/fault"
	"github.com/flowmesh/flowmesh/jepsen/history"
	"github.com/flowmesh/flowmesh/jepsen/nemesis"
	"github.com/flowmesh/flowmesh/jepsen/netns"
	"github.com/flowmesh/flowmesh/jepsen/report"
	"github.com/flowmesh/flowmesh/jepsen/workload"
)

// Network modes.
const (
	NetAuto     = "auto"     // namespaces when available, else loopback
	NetNS       = "netns"    // namespaces, or fail
	NetLoopback = "loopback" // every node on 127.0.0.1; no partitions or netem
)

// Config is one run.
type Config struct {
	Workload    string
	WorkloadCfg workload.Config
	Schedule    nemesis.Schedule
	Nemesis     string // the --nemesis flag as given, for the test name
	Nodes       int
	Time        time.Duration // the fault phase
	Concurrency int           // client processes
	OpTimeout   time.Duration
	OpDelay     time.Duration // pause between one process's ops
	Recover     time.Duration // how long the healed cluster may take to converge
	Net         string
	Binary      string // "" builds bin/flowmesh-node
	Store       string // report store
	BasePort    int    // loopback mode
	KeepData    bool
	// Quota is set on the workloads' tenant after setup (zero: none), so
	// the run goes on past it with writes refused.
	Quota flowmesh.QuotaLimits
	// Insecure runs the cluster without TLS and tokens (the default is
	// the secure setup of the README, as users run it).
	Insecure bool
	// BuildTags are passed to go build for the node binary (test-only
	// hooks and deliberate bugs live behind build tags); NodeEnv is added
	// to every node's environment, NodeFlags to its command line.
	BuildTags string
	NodeEnv   []string
	NodeFlags []string
	Command   []string
	Seed      int64
}

// DefaultConfig is a CI-sized kv run.
func DefaultConfig() Config {
	return Config{
		Workload: "kv", WorkloadCfg: workload.DefaultConfig(), Nodes: 3, Time: 60 * time.Second,
		Concurrency: 10, OpTimeout: time.Second, OpDelay: 5 * time.Millisecond, Recover: 60 * time.Second,
		Net: NetAuto, BasePort: 17400,
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.Nodes < 1 {
		errs = append(errs, fmt.Errorf("runner: %d nodes", c.Nodes))
	}
	if c.Time <= 0 || c.OpTimeout <= 0 || c.Recover <= 0 {
		errs = append(errs, errors.New("runner: time, op timeout and recover must be > 0"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("runner: concurrency %d", c.Concurrency))
	}
	switch c.Net {
	case NetAuto, NetNS, NetLoopback:
	default:
		errs = append(errs, fmt.Errorf("runner: unknown net mode %q", c.Net))
	}
	return errors.Join(errs...)
}

// Outcome is what a run ended with.
type Outcome struct {
	Valid checker.Validity
	Dir   string // the report directory
}

// Run runs the test. An error means the harness could not produce a
// verdict (the report, if any, says Unknown).
func Run(ctx context.Context, cfg Config, log io.Writer) (out Outcome, err error) {
	if err := cfg.Validate(); err != nil {
		return out, err
	}
	for _, f := range cfg.Schedule.Faults {
		// Reservations may end early by as much as a node's clock is off.
		cfg.WorkloadCfg.ClockSlack = max(cfg.WorkloadCfg.ClockSlack, time.Second+f.ClockOffset.Abs())
	}
	wl, err := workload.New(cfg.Workload, cfg.WorkloadCfg)
	if err != nil {
		return out, err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(log, "jepsen: %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
	}
	start := time.Now()
	test := cfg.Workload + "-" + strings.NewReplacer(",", "+", "/", "_").Replace(orNone(cfg.Nemesis))
	run, err := report.Open(report.Config{Store: cfg.Store, Test: test, Start: start})
	if err != nil {
		return out, err
	}
	out.Dir = run.Dir()
	logf("seed %d, report %s", cfg.Seed, run.Dir())
	written := false
	defer func() {
		if err == nil || written {
			return
		}
		// The report still says what happened: nothing was decided.
		res := report.Results{
			Test: test, Workload: cfg.Workload, Command: cfg.Command, Seed: cfg.Seed, Start: start,
			Elapsed: time.Since(start), Nemesis: cfg.Schedule, Notes: []string{"the harness could not run: " + err.Error()},
		}
		res.Summarize()
		_ = run.WriteResults(res)
		_ = run.LinkLatest()
	}()

	bin, err := buildBinary(ctx, cfg.Binary, cfg.BuildTags, logf)
	if err != nil {
		return out, err
	}

	var nw *netns.Network
	switch cfg.Net {
	case NetNS, NetAuto:
		if aerr := netns.Available(); aerr != nil || os.Geteuid() != 0 {
			if cfg.Net == NetNS {
				return out, fmt.Errorf("runner: network namespaces unavailable (need root): %v", aerr)
			}
			logf("network namespaces unavailable (%v, euid %d): nodes share loopback; partitions and netem are refused", aerr, os.Geteuid())
			break
		}
		pid := os.Getpid()
		nw, err = netns.Create(ctx, netns.Config{ID: strconv.FormatInt(int64(pid), 36), Subnet: fmt.Sprintf("10.231.%d", pid%250+1), Nodes: cfg.Nodes})
		if err != nil {
			return out, err
		}
		defer func() {
			if cerr := nw.Close(); cerr != nil {
				logf("network cleanup: %v", cerr)
			}
		}()
		logf("network: one namespace per node on bridge %s, nodes %s..%s", nw.HostIP(), nw.IP(0), nw.IP(cfg.Nodes-1))
	}

	clusterDir := filepath.Join(run.Dir(), "cluster")
	ccfg := ClusterConfig{Binary: bin, Dir: clusterDir, Nodes: cfg.Nodes, Net: nw, BasePort: cfg.BasePort, Extra: cfg.NodeFlags, Env: cfg.NodeEnv,
		FaultHooks: strings.Contains(cfg.BuildTags, "flowmesh_faults"), Insecure: cfg.Insecure}
	cl, err := NewCluster(ccfg)
	if err != nil {
		return out, err
	}
	defer func() {
		cl.StopAll()
		for _, n := range cl.Nodes() {
			if cerr := run.CopyNodeLog(n.ID, n.LogPath); cerr != nil {
				logf("copy log: %v", cerr)
			}
		}
		if !cfg.KeepData {
			_ = os.RemoveAll(clusterDir)
		}
	}()
	var ex *fault.Executor
	if nw != nil {
		ex = fault.New(cl, nw, cfg.Nodes)
	} else {
		ex = fault.New(cl, nil, cfg.Nodes) // a nil *Network is not a nil fault.Network
	}
	var notes []string

	for i := range cl.Nodes() {
		if err := cl.Start(i, true); err != nil {
			return out, err
		}
	}
	hctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = cl.AwaitHealthy(hctx)
	cancel()
	if err != nil {
		return out, err
	}
	logf("cluster of %d up, leader n%d", cfg.Nodes, cl.Leader(ctx))
	if strings.Contains(cfg.BuildTags, "flowmesh_faults") {
		ex.EnableHooks(cl)
		logf("node test hooks (flowmesh_faults): clock offsets, crash-before-apply and lose-unsynced crashes available")
	}
	for _, f := range cfg.Schedule.Faults {
		if err := ex.Supported(f.Kind); err != nil {
			return out, fmt.Errorf("runner: %w", err)
		}
	}

	any, err := client.New(cl.ClientConfig(client.Config{Endpoints: cl.Endpoints(0), DialTimeout: time.Second, MaxRetries: 20, BackoffMax: 500 * time.Millisecond}))
	if err != nil {
		return out, err
	}
	defer any.Close()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = wl.Setup(sctx, any)
	cancel()
	if err != nil {
		return out, fmt.Errorf("runner: setup: %w", err)
	}
	if cfg.Quota != (flowmesh.QuotaLimits{}) {
		// Writes past the quota are refused by every replica alike: the
		// history records them as failures, and the checkers must still
		// find the run valid.
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := any.SetQuota(qctx, workload.Tenant, cfg.Quota, false)
		cancel()
		if err != nil {
			return out, fmt.Errorf("runner: set the quota of tenant %s: %w", workload.Tenant, err)
		}
		logf("tenant %s quota set: %s", workload.Tenant, quotaString(cfg.Quota))
	}

	rec := history.NewRecorder()
	var names []string
	for _, n := range cl.Nodes() {
		names = append(names, n.ID)
	}
	env := &workload.Env{Rec: rec, OpTimeout: cfg.OpTimeout, Nodes: names, Direct: cl.Direct, Any: any, Seed: cfg.Seed}

	// The fault phase: clients and nemesis on rec's clock.
	phase, stopPhase := context.WithTimeout(ctx, cfg.Time)
	defer stopPhase()
	var wg sync.WaitGroup
	var clients []*client.Client
	for p := 0; p < cfg.Concurrency; p++ {
		first := p % cfg.Nodes
		// An attempt gives up on a hung node after half the op's budget and
		// retries elsewhere with the same request ID. Every other process is
		// pinned (client.Config.Pinned): it stays on the node it reached,
		// which forwards its writes and linearizable reads to the leader -
		// clients bound to nodes, as in Jepsen, so that a node answering on
		// its own (cut off, or behind) is seen; the others follow the leader.
		c, err := client.New(cl.ClientConfig(client.Config{Endpoints: cl.Endpoints(first), DialTimeout: time.Second, AttemptTimeout: cfg.OpTimeout / 2, MaxRetries: 5, BackoffMax: 250 * time.Millisecond, Pinned: p%2 == 1}))
		if err != nil {
			return out, err
		}
		clients = append(clients, c)
		proc := workload.NewProcess(p, c, names[first], cfg.Seed, env)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Err() == nil {
				wl.Step(phase, proc)
				if cfg.OpDelay > 0 {
					sleep(phase, cfg.OpDelay/2+time.Duration(proc.Rand.Int64N(int64(cfg.OpDelay))))
				}
			}
		}()
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()

	var windows []history.Window
	var wmu sync.Mutex
	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		for _, f := range cfg.Schedule.Faults {
			if !sleep(phase, f.Start-rec.Now()) {
				return
			}
			at := rec.Now()
			a, err := ex.Apply(ctx, f)
			if err != nil {
				// Not applied (no leader to target, a node that did not
				// crash): noted in the results, and the run goes on.
				logf("fault %s: not applied: %v", f, err)
				wmu.Lock()
				notes = append(notes, fmt.Sprintf("fault %s not applied: %v", f, err))
				wmu.Unlock()
				continue
			}
			logf("fault %s: applied: %s", f.Kind, a.Detail)
			sleep(phase, f.Stop-rec.Now())
			herr := ex.Heal(ctx, a)
			stop := rec.Now()
			logf("fault %s: healed%s", f.Kind, errSuffix(herr))
			wmu.Lock()
			windows = append(windows, history.Window{Kind: string(f.Kind), Detail: a.Detail, Start: at, Stop: stop})
			if herr != nil {
				notes = append(notes, fmt.Sprintf("heal of %s: %v", f, herr))
			}
			wmu.Unlock()
		}
	}()
	<-phase.Done()
	<-nemDone
	wg.Wait()
	logf("fault phase over: %d ops; healing", len(rec.History()))

	if ctx.Err() != nil {
		return out, fmt.Errorf("runner: interrupted: %w", ctx.Err())
	}
	if err := ex.HealAll(ctx); err != nil {
		notes = append(notes, fmt.Sprintf("heal all: %v", err))
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.Recover)
	herr := cl.AwaitHealthy(rctx)
	cancel()
	if herr != nil {
		notes = append(notes, fmt.Sprintf("cluster did not converge within %s: %v", cfg.Recover, herr))
		logf("%v", herr)
	} else {
		logf("cluster converged (leader n%d); final reads", cl.Leader(ctx))
	}
	fctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	if ferr := wl.Final(fctx, env); ferr != nil {
		notes = append(notes, fmt.Sprintf("final phase: %v", ferr))
		logf("final phase: %v", ferr)
	}
	cancel()

	if cfg.Quota != (flowmesh.QuotaLimits{}) {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if q, err := any.Quota(qctx, workload.Tenant); err == nil {
			logf("tenant %s at the end: %s", workload.Tenant, usageString(q))
		}
		cancel()
	}
	replicas := checkReplicas(ctx, cl, 20*time.Second)
	// The nodes are done with: free the CPU for the checkers.
	cl.StopAll()
	ops := rec.History()
	// The history goes to disk before checking, so a check that is
	// interrupted can be redone offline with --check.
	if err := run.WriteHistory(ops); err != nil {
		return out, err
	}
	logf("checking %d ops", len(ops))
	checked := make(chan map[string]checker.Result, 1)
	go func() { checked <- wl.Check(ops, windows, run.Path(report.LinearizabilityFile)) }()
	var checks map[string]checker.Result
	select {
	case checks = <-checked:
	case <-ctx.Done():
		return out, fmt.Errorf("runner: interrupted while checking; the history is in %s", run.Path(report.HistoryFile))
	}
	checks["replicas"] = replicas
	if herr != nil {
		// Final reads of an unconverged cluster prove nothing either way
		// unless they found an anomaly.
		for k, r := range checks {
			if r.Valid == checker.Valid {
				r.Valid = checker.Unknown
				r.Notes = append(r.Notes, "the cluster did not converge after healing")
				checks[k] = r
			}
		}
	}
	res := report.Results{
		Test: test, Workload: cfg.Workload, Command: cfg.Command, Seed: cfg.Seed, Start: start,
		Elapsed: time.Since(start), Checks: checks, Nemesis: cfg.Schedule, Notes: notes,
	}
	res.Summarize()
	written = true
	err = errors.Join(
		run.WritePlots(fmt.Sprintf("%s, seed %d", test, cfg.Seed), ops, windows),
		run.WriteResults(res),
		run.LinkLatest(),
	)
	out.Valid = res.Valid
	for name, r := range checks {
		logf("check %s: %s", name, r)
	}
	return out, err
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return s
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// buildBinary returns bin, building bin/flowmesh-node when bin is "".
func buildBinary(ctx context.Context, bin, tags string, logf func(string, ...any)) (string, error) {
	if bin != "" {
		return filepath.Abs(bin)
	}
	name := "flowmesh-node"
	if tags != "" {
		name += "-" + strings.NewReplacer(",", "-", " ", "-").Replace(tags)
	}
	bin, err := filepath.Abs(filepath.Join("bin", name))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", tags, "-o", bin, "./cmd/node")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("runner: go build ./cmd/node (run from the repository root): %v\n%s", err, out)
	}
	logf("built %s", bin)
	return bin, nil
}
