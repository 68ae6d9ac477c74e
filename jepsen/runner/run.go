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
// verdict (the report, if any, says Unknown). It goes through the phases
// in order, each a method of trial: open the report, build the node
// binary, set up the network, start the cluster, set the workload up, the
// fault phase, recovery and the final reads, then the checks and the
// report. What a phase starts is undone on the way out, in reverse order.
func Run(ctx context.Context, cfg Config, log io.Writer) (out Outcome, err error) {
	t, err := openTrial(cfg, log)
	if err != nil {
		return out, err
	}
	out.Dir = t.rep.Dir()
	t.logf("seed %d, report %s", cfg.Seed, t.rep.Dir())
	defer func() {
		if err != nil && !t.written {
			t.writeFailure(err)
		}
	}()

	bin, err := buildBinary(ctx, cfg.Binary, cfg.BuildTags, t.logf)
	if err != nil {
		return out, err
	}
	if err := t.openNetwork(ctx); err != nil {
		return out, err
	}
	defer t.closeNetwork()
	if err := t.newCluster(bin); err != nil {
		return out, err
	}
	defer t.removeCluster()
	if err := t.startNodes(ctx); err != nil {
		return out, err
	}
	if err := t.connect(); err != nil {
		return out, err
	}
	defer t.any.Close()
	if err := t.setup(ctx); err != nil {
		return out, err
	}
	defer t.closeClients()
	if err := t.faultPhase(ctx); err != nil {
		return out, err
	}
	notConverged, err := t.recover(ctx)
	if err != nil {
		return out, err
	}
	return t.check(ctx, notConverged, out)
}

// trial is one run's state, handed from phase to phase.
type trial struct {
	cfg   Config
	wl    workload.Workload
	logf  func(format string, args ...any)
	rep   *report.Run
	test  string
	start time.Time
	// written: the results are (being) written by check, so a failure
	// after that does not write the harness-failure report over them.
	written bool

	nw      *netns.Network
	cl      *Cluster
	ex      *fault.Executor
	any     *client.Client   // the workload's setup and final reads
	clients []*client.Client // one per process of the fault phase
	names   []string         // the nodes' IDs
	rec     *history.Recorder
	env     *workload.Env

	mu      sync.Mutex // notes and windows, during the fault phase
	notes   []string
	windows []history.Window
}

// openTrial checks cfg, makes the workload and opens the report.
func openTrial(cfg Config, log io.Writer) (*trial, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, f := range cfg.Schedule.Faults {
		// Reservations may end early by as much as a node's clock is off.
		cfg.WorkloadCfg.ClockSlack = max(cfg.WorkloadCfg.ClockSlack, time.Second+f.ClockOffset.Abs())
	}
	wl, err := workload.New(cfg.Workload, cfg.WorkloadCfg)
	if err != nil {
		return nil, err
	}
	t := &trial{cfg: cfg, wl: wl, start: time.Now()}
	t.logf = func(format string, args ...any) {
		fmt.Fprintf(log, "jepsen: %s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
	}
	t.test = cfg.Workload + "-" + strings.NewReplacer(",", "+", "/", "_").Replace(orNone(cfg.Nemesis))
	t.rep, err = report.Open(report.Config{Store: cfg.Store, Test: t.test, Start: t.start})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// writeFailure writes the report of a run the harness could not finish:
// it still says what happened, and that nothing was decided.
func (t *trial) writeFailure(err error) {
	cfg := t.cfg
	res := report.Results{
		Test: t.test, Workload: cfg.Workload, Command: cfg.Command, Seed: cfg.Seed, Start: t.start,
		Elapsed: time.Since(t.start), Nemesis: cfg.Schedule, Notes: []string{"the harness could not run: " + err.Error()},
	}
	res.Summarize()
	_ = t.rep.WriteResults(res)
	_ = t.rep.LinkLatest()
}

// openNetwork puts each node in a network namespace of its own when it
// can (or must: NetNS); otherwise the nodes share loopback.
func (t *trial) openNetwork(ctx context.Context) error {
	cfg := t.cfg
	switch cfg.Net {
	case NetNS, NetAuto:
		if aerr := netns.Available(); aerr != nil || os.Geteuid() != 0 {
			if cfg.Net == NetNS {
				return fmt.Errorf("runner: network namespaces unavailable (need root): %v", aerr)
			}
			t.logf("network namespaces unavailable (%v, euid %d): nodes share loopback; partitions and netem are refused", aerr, os.Geteuid())
			return nil
		}
		pid := os.Getpid()
		nw, err := netns.Create(ctx, netns.Config{ID: strconv.FormatInt(int64(pid), 36), Subnet: fmt.Sprintf("10.231.%d", pid%250+1), Nodes: cfg.Nodes})
		if err != nil {
			return err
		}
		t.nw = nw
		t.logf("network: one namespace per node on bridge %s, nodes %s..%s", nw.HostIP(), nw.IP(0), nw.IP(cfg.Nodes-1))
	}
	return nil
}

func (t *trial) closeNetwork() {
	if t.nw == nil {
		return
	}
	if cerr := t.nw.Close(); cerr != nil {
		t.logf("network cleanup: %v", cerr)
	}
}

// newCluster lays out the node processes (none started yet) and the fault
// executor over them.
func (t *trial) newCluster(bin string) error {
	cfg := t.cfg
	ccfg := ClusterConfig{Binary: bin, Dir: t.clusterDir(), Nodes: cfg.Nodes, Net: t.nw, BasePort: cfg.BasePort, Extra: cfg.NodeFlags, Env: cfg.NodeEnv,
		FaultHooks: strings.Contains(cfg.BuildTags, "flowmesh_faults"), Insecure: cfg.Insecure}
	cl, err := NewCluster(ccfg)
	if err != nil {
		return err
	}
	t.cl = cl
	if t.nw != nil {
		t.ex = fault.New(cl, t.nw, cfg.Nodes)
	} else {
		t.ex = fault.New(cl, nil, cfg.Nodes) // a nil *Network is not a nil fault.Network
	}
	return nil
}

func (t *trial) clusterDir() string { return filepath.Join(t.rep.Dir(), "cluster") }

// removeCluster stops every node, copies its log into the report and,
// unless KeepData, removes the nodes' data.
func (t *trial) removeCluster() {
	t.cl.StopAll()
	for _, n := range t.cl.Nodes() {
		if cerr := t.rep.CopyNodeLog(n.ID, n.LogPath); cerr != nil {
			t.logf("copy log: %v", cerr)
		}
	}
	if !t.cfg.KeepData {
		_ = os.RemoveAll(t.clusterDir())
	}
}

// startNodes starts every node, waits for a healthy cluster and checks
// that the executor can apply every fault of the schedule.
func (t *trial) startNodes(ctx context.Context) error {
	for i := range t.cl.Nodes() {
		if err := t.cl.Start(i, true); err != nil {
			return err
		}
	}
	hctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err := t.cl.AwaitHealthy(hctx)
	cancel()
	if err != nil {
		return err
	}
	t.logf("cluster of %d up, leader n%d", t.cfg.Nodes, t.cl.Leader(ctx))
	if strings.Contains(t.cfg.BuildTags, "flowmesh_faults") {
		t.ex.EnableHooks(t.cl)
		t.logf("node test hooks (flowmesh_faults): clock offsets, crash-before-apply and lose-unsynced crashes available")
	}
	for _, f := range t.cfg.Schedule.Faults {
		if err := t.ex.Supported(f.Kind); err != nil {
			return fmt.Errorf("runner: %w", err)
		}
	}
	return nil
}

// connect opens the client the workload sets up and reads back with.
func (t *trial) connect() error {
	any, err := client.New(t.cl.ClientConfig(client.Config{Endpoints: t.cl.Endpoints(0), DialTimeout: time.Second, MaxRetries: 20, BackoffMax: 500 * time.Millisecond}))
	if err != nil {
		return err
	}
	t.any = any
	return nil
}

// setup runs the workload's setup and sets the tenant's quota if asked,
// then makes the history recorder and the processes' environment.
func (t *trial) setup(ctx context.Context) error {
	cfg := t.cfg
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := t.wl.Setup(sctx, t.any)
	cancel()
	if err != nil {
		return fmt.Errorf("runner: setup: %w", err)
	}
	if cfg.Quota != (flowmesh.QuotaLimits{}) {
		// Writes past the quota are refused by every replica alike: the
		// history records them as failures, and the checkers must still
		// find the run valid.
		qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := t.any.SetQuota(qctx, workload.Tenant, cfg.Quota, false)
		cancel()
		if err != nil {
			return fmt.Errorf("runner: set the quota of tenant %s: %w", workload.Tenant, err)
		}
		t.logf("tenant %s quota set: %s", workload.Tenant, quotaString(cfg.Quota))
	}

	t.rec = history.NewRecorder()
	for _, n := range t.cl.Nodes() {
		t.names = append(t.names, n.ID)
	}
	t.env = &workload.Env{Rec: t.rec, OpTimeout: cfg.OpTimeout, Nodes: t.names, Direct: t.cl.Direct, Any: t.any, Seed: cfg.Seed}
	return nil
}

func (t *trial) closeClients() {
	for _, c := range t.clients {
		c.Close()
	}
}

// faultPhase runs the client processes and the nemesis schedule on the
// recorder's clock for cfg.Time, and returns once both are done.
func (t *trial) faultPhase(ctx context.Context) error {
	cfg := t.cfg
	phase, stopPhase := context.WithTimeout(ctx, cfg.Time)
	defer stopPhase()
	var wg sync.WaitGroup
	for p := 0; p < cfg.Concurrency; p++ {
		first := p % cfg.Nodes
		// An attempt gives up on a hung node after half the op's budget and
		// retries elsewhere with the same request ID. Every other process is
		// pinned (client.Config.Pinned): it stays on the node it reached,
		// which forwards its writes and linearizable reads to the leader -
		// clients bound to nodes, as in Jepsen, so that a node answering on
		// its own (cut off, or behind) is seen; the others follow the leader.
		c, err := client.New(t.cl.ClientConfig(client.Config{Endpoints: t.cl.Endpoints(first), DialTimeout: time.Second, AttemptTimeout: cfg.OpTimeout / 2, MaxRetries: 5, BackoffMax: 250 * time.Millisecond, Pinned: p%2 == 1}))
		if err != nil {
			return err
		}
		t.clients = append(t.clients, c)
		proc := workload.NewProcess(p, c, t.names[first], cfg.Seed, t.env)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for phase.Err() == nil {
				t.wl.Step(phase, proc)
				if cfg.OpDelay > 0 {
					sleep(phase, cfg.OpDelay/2+time.Duration(proc.Rand.Int64N(int64(cfg.OpDelay))))
				}
			}
		}()
	}

	nemDone := make(chan struct{})
	go func() {
		defer close(nemDone)
		t.nemesis(ctx, phase)
	}()
	<-phase.Done()
	<-nemDone
	wg.Wait()
	t.logf("fault phase over: %d ops; healing", len(t.rec.History()))
	return nil
}

// nemesis applies and heals each fault of the schedule at its time, until
// the schedule or the phase ends, recording each fault's window.
func (t *trial) nemesis(ctx, phase context.Context) {
	rec, ex := t.rec, t.ex
	for _, f := range t.cfg.Schedule.Faults {
		if !sleep(phase, f.Start-rec.Now()) {
			return
		}
		at := rec.Now()
		a, err := ex.Apply(ctx, f)
		if err != nil {
			// Not applied (no leader to target, a node that did not
			// crash): noted in the results, and the run goes on.
			t.logf("fault %s: not applied: %v", f, err)
			t.mu.Lock()
			t.notes = append(t.notes, fmt.Sprintf("fault %s not applied: %v", f, err))
			t.mu.Unlock()
			continue
		}
		t.logf("fault %s: applied: %s", f.Kind, a.Detail)
		sleep(phase, f.Stop-rec.Now())
		herr := ex.Heal(ctx, a)
		stop := rec.Now()
		t.logf("fault %s: healed%s", f.Kind, errSuffix(herr))
		t.mu.Lock()
		t.windows = append(t.windows, history.Window{Kind: string(f.Kind), Detail: a.Detail, Start: at, Stop: stop})
		if herr != nil {
			t.notes = append(t.notes, fmt.Sprintf("heal of %s: %v", f, herr))
		}
		t.mu.Unlock()
	}
}

// recover heals everything, waits for the cluster to converge (an error
// there is a note, returned as notConverged) and runs the final reads.
func (t *trial) recover(ctx context.Context) (notConverged, err error) {
	cfg := t.cfg
	if ctx.Err() != nil {
		return nil, fmt.Errorf("runner: interrupted: %w", ctx.Err())
	}
	if err := t.ex.HealAll(ctx); err != nil {
		t.notes = append(t.notes, fmt.Sprintf("heal all: %v", err))
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.Recover)
	herr := t.cl.AwaitHealthy(rctx)
	cancel()
	if herr != nil {
		t.notes = append(t.notes, fmt.Sprintf("cluster did not converge within %s: %v", cfg.Recover, herr))
		t.logf("%v", herr)
	} else {
		t.logf("cluster converged (leader n%d); final reads", t.cl.Leader(ctx))
	}
	fctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	if ferr := t.wl.Final(fctx, t.env); ferr != nil {
		t.notes = append(t.notes, fmt.Sprintf("final phase: %v", ferr))
		t.logf("final phase: %v", ferr)
	}
	cancel()

	if cfg.Quota != (flowmesh.QuotaLimits{}) {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if q, err := t.any.Quota(qctx, workload.Tenant); err == nil {
			t.logf("tenant %s at the end: %s", workload.Tenant, usageString(q))
		}
		cancel()
	}
	return herr, nil
}

// check compares the replicas, stops the nodes, writes the history, runs
// the workload's checkers and writes the results, plots and latest link.
// notConverged is recover's: without convergence a valid check is Unknown.
func (t *trial) check(ctx context.Context, notConverged error, out Outcome) (Outcome, error) {
	cfg, rec, run := t.cfg, t.rec, t.rep
	replicas := checkReplicas(ctx, t.cl, 20*time.Second)
	// The nodes are done with: free the CPU for the checkers.
	t.cl.StopAll()
	ops := rec.History()
	// The history goes to disk before checking, so a check that is
	// interrupted can be redone offline with --check.
	if err := run.WriteHistory(ops); err != nil {
		return out, err
	}
	t.logf("checking %d ops", len(ops))
	checked := make(chan map[string]checker.Result, 1)
	go func() { checked <- t.wl.Check(ops, t.windows, run.Path(report.LinearizabilityFile)) }()
	var checks map[string]checker.Result
	select {
	case checks = <-checked:
	case <-ctx.Done():
		return out, fmt.Errorf("runner: interrupted while checking; the history is in %s", run.Path(report.HistoryFile))
	}
	checks["replicas"] = replicas
	if notConverged != nil {
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
		Test: t.test, Workload: cfg.Workload, Command: cfg.Command, Seed: cfg.Seed, Start: t.start,
		Elapsed: time.Since(t.start), Checks: checks, Nemesis: cfg.Schedule, Notes: t.notes,
	}
	res.Summarize()
	t.written = true
	err := errors.Join(
		run.WritePlots(fmt.Sprintf("%s, seed %d", t.test, cfg.Seed), ops, t.windows),
		run.WriteResults(res),
		run.LinkLatest(),
	)
	out.Valid = res.Valid
	for name, r := range checks {
		t.logf("check %s: %s", name, r)
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
