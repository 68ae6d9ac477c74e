package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// workloads are the bench workloads, in help order.
var workloads = []string{"kv-put", "kv-get", "stream-append", "stream-read", "queue", "txn"}

// benchConfig is a bench run's settings.
type benchConfig struct {
	workload    string
	concurrency int
	duration    time.Duration
	valueSize   int
	batch       int
	keys        int
	prefill     int
	partitions  int
	connections int
	noProgress  bool
	keep        bool
	cpuProfile  string
}

// benchResult is one measured phase.
type benchResult struct {
	Workload     string    `json:"workload"`
	Phase        string    `json:"phase"`
	Concurrency  int       `json:"concurrency"`
	ValueSize    int       `json:"value_size"`
	Batch        int       `json:"batch,omitempty"`
	Seconds      float64   `json:"seconds"`
	Ops          int64     `json:"ops"`
	Errors       int64     `json:"errors"`
	OpsPerSec    float64   `json:"ops_per_sec"`
	EventsPerSec float64   `json:"events_per_sec,omitempty"`
	JobsPerSec   float64   `json:"jobs_per_sec,omitempty"` // queue: jobs moved (an op moves --batch jobs)
	MBPerSec     float64   `json:"mb_per_sec"`
	LatencyMs    latencyMs `json:"latency_ms"`
	FirstError   string    `json:"first_error,omitempty"`
	Resource     string    `json:"resource"`
	samples      []float64 // ms, sorted
}

type latencyMs struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// op is one timed operation of worker w; it returns the payload bytes and
// events it moved. errQueueEmpty ends the worker.
type op func(ctx context.Context, c *client.Client, w int, rng *rand.Rand) (bytes, events int, err error)

var errQueueEmpty = errors.New("queue empty")

// benchGOGC is the bench client's GC target unless GOGC is set (see RunE).
const benchGOGC = 400

func (a *app) benchCmd() *cobra.Command {
	var bc benchConfig
	cmd := &cobra.Command{
		Use:   "bench WORKLOAD",
		Short: "Load-test a node: " + strings.Join(workloads, ", "),
		Long: `bench runs one workload against the nodes for --duration and prints throughput
(ops/s, MB/s of payload, events/s for streams) and latency percentiles.
It creates its own resources under the tenant "bench" and deletes them
afterwards (unless --keep).

Workloads:
  kv-put          Put values of --value-size bytes to --keys random keys
  kv-get          Get random keys among --keys prefilled ones
  stream-append   WriteEvents batches of --batch events
  stream-read     ReadFromOffset batches of --batch events from random offsets
                  of a stream prefilled with --prefill events
  queue           Enqueue for --duration, then Reserve+Ack for --duration
                  (two phases, reported separately). With --batch N > 1 an op
                  is one EnqueueBatch of N jobs, or one ReserveBatch of up to
                  N jobs and one AckBatch of them; JOBS/S counts jobs. The
                  queue workload's --batch defaults to 1 (one job per call).
  txn             A KV put, a stream append and an enqueue of --value-size
                  bytes each as three calls, then as one transaction (two
                  phases: the baseline and the transaction, same run)

The client runs with GOGC=400 unless GOGC is set, so that it takes less
CPU from nodes on the same machine; --cpu-profile shows what it costs.`,
		Example: `  flowmesh bench kv-put -c 64 -d 10s
  flowmesh bench stream-append --batch 100 -d 10s
  flowmesh bench queue -c 16 -o json
  flowmesh bench queue -c 64 --batch 10`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: workloads,
		RunE: func(cmd *cobra.Command, args []string) error {
			bc.workload = args[0]
			if bc.workload == "queue" && !cmd.Flags().Changed("batch") {
				bc.batch = 1 // one job per call unless asked
			}
			if err := bc.validate(); err != nil {
				return err
			}
			if os.Getenv("GOGC") == "" {
				// The client's heap is small and it allocates per call, so at the
				// default GOGC it collects every few MB; on a small machine that
				// CPU is taken from the nodes being measured. GOGC overrides.
				debug.SetGCPercent(benchGOGC)
			}
			if bc.cpuProfile != "" {
				stop, err := startCPUProfile(bc.cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			rs, err := a.runBench(cmd.Context(), bc)
			if err != nil {
				return err
			}
			return a.emit(rs, func(w io.Writer) {
				items := "EVENTS/S"
				if bc.workload == "queue" {
					items = "JOBS/S"
				}
				fmt.Fprintf(w, "WORKLOAD\tPHASE\tCONC\tOPS\tOPS/S\t%s\tMB/S\tP50 ms\tP99 ms\tP99.9 ms\tERRORS\n", items)
				for _, r := range rs {
					ev := "-"
					if r.EventsPerSec > 0 {
						ev = fmt.Sprintf("%.0f", r.EventsPerSec)
					}
					if r.JobsPerSec > 0 {
						ev = fmt.Sprintf("%.0f", r.JobsPerSec)
					}
					fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%.0f\t%s\t%.2f\t%.3f\t%.3f\t%.3f\t%d\n", r.Workload, r.Phase, r.Concurrency,
						r.Ops, r.OpsPerSec, ev, r.MBPerSec, r.LatencyMs.P50, r.LatencyMs.P99, r.LatencyMs.P999, r.Errors)
				}
			})
		},
	}
	f := cmd.Flags()
	f.IntVarP(&bc.concurrency, "concurrency", "c", 16, "concurrent workers")
	f.DurationVarP(&bc.duration, "duration", "d", 10*time.Second, "how long each phase runs")
	f.IntVar(&bc.valueSize, "value-size", 256, "bytes per value, event or job")
	f.IntVar(&bc.batch, "batch", 100, "events per WriteEvents or ReadFromOffset call (stream workloads); jobs per call (queue: default 1, at most 100)")
	f.IntVar(&bc.keys, "keys", 10000, "key space of kv-put and kv-get")
	f.IntVar(&bc.prefill, "prefill", 100000, "events written before stream-read")
	f.IntVar(&bc.partitions, "partitions", 1, "partitions of the bench stream")
	f.IntVar(&bc.connections, "connections", 4, "gRPC connections (clients) shared by the workers")
	f.BoolVar(&bc.noProgress, "no-progress", false, "no progress bar (it is off anyway when stderr is not a terminal)")
	f.BoolVar(&bc.keep, "keep", false, "keep the bench resources")
	f.StringVar(&bc.cpuProfile, "cpu-profile", "", "write a CPU profile of this bench client to `FILE` (go tool pprof); the node's is at its HTTP port's /debug/pprof/profile")
	return cmd
}

func (bc *benchConfig) validate() error {
	var errs []string
	if !slices.Contains(workloads, bc.workload) {
		errs = append(errs, fmt.Sprintf("unknown workload %q: want one of %s", bc.workload, strings.Join(workloads, ", ")))
	}
	if bc.concurrency < 1 {
		errs = append(errs, "--concurrency must be at least 1")
	}
	if bc.duration <= 0 {
		errs = append(errs, "--duration must be positive")
	}
	if bc.valueSize < 0 || bc.valueSize > flowmesh.MaxPayloadSize {
		errs = append(errs, fmt.Sprintf("--value-size must be 0..%d", flowmesh.MaxPayloadSize))
	}
	maxBatch := flowmesh.MaxBatchEvents
	if bc.workload == "queue" {
		maxBatch = flowmesh.MaxQueueBatch
	}
	if bc.batch < 1 || bc.batch > maxBatch || bc.batch*bc.valueSize > flowmesh.MaxBatchBytes {
		errs = append(errs, fmt.Sprintf("--batch must be 1..%d with batch*value-size <= %d", maxBatch, flowmesh.MaxBatchBytes))
	}
	if bc.keys < 1 || bc.prefill < 1 {
		errs = append(errs, "--keys and --prefill must be at least 1")
	}
	if bc.partitions < 1 || bc.partitions > flowmesh.MaxPartitions {
		errs = append(errs, fmt.Sprintf("--partitions must be 1..%d", flowmesh.MaxPartitions))
	}
	if bc.connections < 1 {
		errs = append(errs, "--connections must be at least 1")
	}
	if len(errs) > 0 {
		return usagef("%s", strings.Join(errs, "; "))
	}
	return nil
}

// runBench creates the workload's resource, runs its phases and removes it.
func (a *app) runBench(ctx context.Context, bc benchConfig) ([]benchResult, error) {
	clients, closeExtra, err := a.benchClients(bc)
	if err != nil {
		return nil, err
	}
	defer closeExtra()
	c := clients[0]

	name := fmt.Sprintf("%s-%d", bc.workload, time.Now().UnixNano())
	p := flowmesh.JoinPath(benchTenant, benchNamespace, name)
	if err := a.createBenchResource(ctx, c, bc, name); err != nil {
		return nil, err
	}
	if !bc.keep {
		defer a.deleteBenchResource(c, p)
		if bc.workload == "txn" {
			defer a.deleteTxnBench(c, p)
		}
	}
	phases, err := a.benchPhases(ctx, clients, bc, p)
	if err != nil {
		return nil, err
	}

	var out []benchResult
	for _, ph := range phases {
		r := a.benchPhase(ctx, clients, bc, ph.name, ph.op)
		r.Resource = p
		if r.Ops == 0 && r.Errors > 0 {
			return nil, failed(fmt.Errorf("bench %s %s: every operation failed; first error: %s", bc.workload, ph.name, r.FirstError))
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out, nil
}

// The bench's resources live in their own tenant and namespace.
const benchTenant, benchNamespace = "bench", "bench"

// benchClients returns bc.connections clients, the CLI's own first;
// closeExtra closes the others.
func (a *app) benchClients(bc benchConfig) (clients []*client.Client, closeExtra func(), err error) {
	c, err := a.client()
	if err != nil {
		return nil, nil, err
	}
	clients = []*client.Client{c}
	closeExtra = func() {
		for _, extra := range clients[1:] {
			extra.Close()
		}
	}
	for len(clients) < bc.connections {
		extra, err := client.New(a.clientConfig())
		if err != nil {
			closeExtra()
			return nil, nil, usagef("%v", err)
		}
		clients = append(clients, extra)
	}
	return clients, closeExtra, nil
}

// createBenchResource creates the workload's resource, name, in the bench
// namespace.
func (a *app) createBenchResource(ctx context.Context, c *client.Client, bc benchConfig, name string) error {
	const tenant, ns = benchTenant, benchNamespace
	setup := func(fn func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, a.timeout)
		defer cancel()
		return failed(fn(cctx))
	}
	switch bc.workload {
	case "kv-put", "kv-get":
		return setup(func(ctx context.Context) error { _, err := c.CreateKVStore(ctx, tenant, ns, name); return err })
	case "stream-append", "stream-read":
		return setup(func(ctx context.Context) error {
			_, err := c.CreateStream(ctx, tenant, ns, name, bc.partitions)
			return err
		})
	case "queue":
		return setup(func(ctx context.Context) error { _, err := c.CreateQueue(ctx, tenant, ns, name, 1); return err })
	case "txn":
		return setup(func(ctx context.Context) error { return createTxnBench(ctx, c, tenant, ns, name, bc.partitions) })
	}
	return nil
}

// deleteBenchResource deletes p, whatever became of the run's ctx.
func (a *app) deleteBenchResource(c *client.Client, p string) {
	cctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	if err := c.DeleteResource(cctx, p); err != nil {
		fmt.Fprintf(a.stderr, "bench: deleting %s: %v\n", p, err)
	}
}

// benchOp is one measured phase of a workload.
type benchOp struct {
	name string
	op   op
}

// benchPhases prefills p when the workload reads, and returns the
// workload's phases in the order they run.
func (a *app) benchPhases(ctx context.Context, clients []*client.Client, bc benchConfig, p string) ([]benchOp, error) {
	c := clients[0]
	value := make([]byte, bc.valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	key := func(i int) string { return fmt.Sprintf("key-%08d", i) }
	events := make([]flowmesh.StreamEvent, bc.batch)
	for i := range events {
		events[i] = flowmesh.StreamEvent{Partition: i % bc.partitions, Payload: value}
	}
	readOpts := a.readOpts()

	var phases []benchOp
	add := func(name string, o op) { phases = append(phases, benchOp{name, o}) }
	switch bc.workload {
	case "kv-put":
		add("put", func(ctx context.Context, c *client.Client, _ int, rng *rand.Rand) (int, int, error) {
			_, err := c.Put(ctx, p, key(rng.IntN(bc.keys)), value, flowmesh.KVPutOptions{})
			return len(value), 0, err
		})
	case "kv-get":
		if err := a.prefillKV(ctx, clients, bc, p, key, value); err != nil {
			return nil, err
		}
		add("get", func(ctx context.Context, c *client.Client, _ int, rng *rand.Rand) (int, int, error) {
			e, err := c.Get(ctx, p, key(rng.IntN(bc.keys)), readOpts...)
			return len(e.Value), 0, err
		})
	case "stream-append":
		add("append", func(ctx context.Context, c *client.Client, _ int, _ *rand.Rand) (int, int, error) {
			_, err := c.WriteEvents(ctx, p, events)
			return len(events) * len(value), len(events), err
		})
	case "stream-read":
		if err := a.prefillStream(ctx, c, bc, p, value); err != nil {
			return nil, err
		}
		perPart := max(bc.prefill/bc.partitions, 1)
		add("read", func(ctx context.Context, c *client.Client, _ int, rng *rand.Rand) (int, int, error) {
			off := uint64(rng.IntN(max(perPart-bc.batch, 1)))
			ms, err := c.ReadFromOffset(ctx, p, rng.IntN(bc.partitions), off, bc.batch, readOpts...)
			n := 0
			for _, m := range ms {
				n += len(m.Payload)
			}
			return n, len(ms), err
		})
	case "txn":
		addTxnBench(add, bc, p, value, key)
	case "queue":
		if bc.batch > 1 {
			addQueueBatch(add, bc, p, value)
			break
		}
		// One job per call: the events count of an op is the one job.
		add("enqueue", func(ctx context.Context, c *client.Client, _ int, _ *rand.Rand) (int, int, error) {
			_, _, err := c.Enqueue(ctx, p, value, flowmesh.QueueEnqueueOptions{})
			return len(value), 1, err
		})
		add("reserve+ack", func(ctx context.Context, c *client.Client, _ int, _ *rand.Rand) (int, int, error) {
			j, err := c.Reserve(ctx, p, time.Minute)
			if err != nil {
				return 0, 0, err
			}
			if j == nil {
				return 0, 0, errQueueEmpty
			}
			return len(j.Payload), 1, c.Ack(ctx, p, j.Receipt)
		})
	}
	return phases, nil
}

// benchPhase runs o on bc.concurrency workers for bc.duration.
func (a *app) benchPhase(ctx context.Context, clients []*client.Client, bc benchConfig, phase string, o op) benchResult {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    atomic.Int64
		samples  []float64
		ops      int64
		errs     int64
		bytes    int64
		events   int64
		firstErr error
	)
	seed := uint64(time.Now().UnixNano())
	start := time.Now()
	deadline := start.Add(bc.duration)
	stopBar := func() {}
	if !bc.noProgress && a.isTTY() {
		stopBar = a.progress(phase, bc.duration, start, &total)
	}
	for w := range bc.concurrency {
		wg.Go(func() {
			c := clients[w%len(clients)]
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			var (
				lat                 []float64
				n, e, b, ev, streak int64
				first               error
			)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				cctx, cancel := context.WithTimeout(ctx, a.timeout)
				t0 := time.Now()
				nb, ne, err := o(cctx, c, w, rng)
				d := time.Since(t0)
				cancel()
				if errors.Is(err, errQueueEmpty) {
					break
				}
				if err != nil {
					if ctx.Err() != nil {
						break
					}
					e++
					if first == nil {
						first = err
					}
					if streak++; streak >= 100 {
						break // the node is failing every call; stop hammering it
					}
					continue
				}
				streak = 0
				n++
				b += int64(nb)
				ev += int64(ne)
				lat = append(lat, float64(d)/float64(time.Millisecond))
				total.Add(1)
			}
			mu.Lock()
			samples = append(samples, lat...)
			ops, errs, bytes, events = ops+n, errs+e, bytes+b, events+ev
			if firstErr == nil {
				firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	stopBar()

	slices.Sort(samples)
	r := benchResult{
		Workload: bc.workload, Phase: phase, Concurrency: bc.concurrency, ValueSize: bc.valueSize,
		Seconds: elapsed, Ops: ops, Errors: errs,
		OpsPerSec: float64(ops) / elapsed,
		MBPerSec:  float64(bytes) / 1e6 / elapsed,
		LatencyMs: latencyMs{P50: quantile(samples, 0.5), P99: quantile(samples, 0.99), P999: quantile(samples, 0.999), Max: quantile(samples, 1)},
	}
	switch {
	case strings.HasPrefix(bc.workload, "stream"):
		r.Batch = bc.batch
		r.EventsPerSec = float64(events) / elapsed
	case bc.workload == "queue":
		r.Batch = bc.batch
		r.JobsPerSec = float64(events) / elapsed
	}
	if firstErr != nil {
		r.FirstError = firstErr.Error()
	}
	return r
}

// startCPUProfile profiles the bench client itself: on a small machine the
// client shares the cores with the nodes, so its cost is part of the figure.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("--cpu-profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, failed(fmt.Errorf("--cpu-profile: %w", err))
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// quantile returns the q-quantile of sorted samples (nearest rank).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// progress shows a bar on stderr while a phase runs. The returned func
// removes it.
func (a *app) progress(phase string, d time.Duration, start time.Time, ops *atomic.Int64) func() {
	bar := progressbar.NewOptions64(d.Milliseconds(),
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(phase),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				_ = bar.Finish()
				return
			case <-t.C:
				el := time.Since(start)
				bar.Describe(fmt.Sprintf("%-12s %8d ops %8.0f ops/s", phase, ops.Load(), float64(ops.Load())/el.Seconds()))
				_ = bar.Set64(min(el.Milliseconds(), d.Milliseconds()))
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// prefillKV writes every key once, on all workers.
func (a *app) prefillKV(ctx context.Context, clients []*client.Client, bc benchConfig, p string, key func(int) string, value []byte) error {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	for w := range bc.concurrency {
		wg.Go(func() {
			c := clients[w%len(clients)]
			for i := int(next.Add(1) - 1); i < bc.keys; i = int(next.Add(1) - 1) {
				cctx, cancel := context.WithTimeout(ctx, a.timeout)
				_, err := c.Put(cctx, p, key(i), value, flowmesh.KVPutOptions{})
				cancel()
				if err != nil {
					mu.Lock()
					fail = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return failed(fail)
}

// prefillStream writes bc.prefill events spread over the partitions.
func (a *app) prefillStream(ctx context.Context, c *client.Client, bc benchConfig, p string, value []byte) error {
	per := max(bc.prefill/bc.partitions, 1)
	chunk := max(min(flowmesh.MaxBatchEvents, flowmesh.MaxBatchBytes/max(len(value)+16, 1)), 1)
	for part := range bc.partitions {
		for done := 0; done < per; {
			n := min(chunk, per-done)
			evs := make([]flowmesh.StreamEvent, n)
			for i := range evs {
				evs[i] = flowmesh.StreamEvent{Partition: part, Payload: value}
			}
			cctx, cancel := context.WithTimeout(ctx, a.timeout)
			_, err := c.WriteEvents(cctx, p, evs)
			cancel()
			if err != nil {
				return failed(err)
			}
			done += n
		}
	}
	return nil
}

// addQueueBatch adds the queue phases with --batch N > 1: EnqueueBatch of N
// jobs, and ReserveBatch of up to N jobs followed by AckBatch of them.
func addQueueBatch(add func(string, op), bc benchConfig, p string, value []byte) {
	items := make([]flowmesh.EnqueueItem, bc.batch)
	for i := range items {
		items[i] = flowmesh.EnqueueItem{Payload: value}
	}
	add("enqueue", func(ctx context.Context, c *client.Client, _ int, _ *rand.Rand) (int, int, error) {
		_, err := c.EnqueueBatch(ctx, p, items)
		return len(items) * len(value), len(items), err
	})
	add("reserve+ack", func(ctx context.Context, c *client.Client, _ int, _ *rand.Rand) (int, int, error) {
		js, err := c.ReserveBatch(ctx, p, bc.batch, time.Minute)
		if err != nil {
			return 0, 0, err
		}
		if len(js) == 0 {
			return 0, 0, errQueueEmpty
		}
		receipts := make([]flowmesh.Receipt, len(js))
		n := 0
		for i, j := range js {
			receipts[i] = j.Receipt
			n += len(j.Payload)
		}
		errs, err := c.AckBatch(ctx, p, receipts)
		if err != nil {
			return 0, 0, err
		}
		for _, e := range errs {
			if e != nil {
				return n, len(js), e
			}
		}
		return n, len(js), nil
	})
}
