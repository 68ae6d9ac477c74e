package storage_test

// Benchmarks for issue 3's performance bars: one embedded node (single-voter
// raft, raft-boltdb with an fsync per raft commit, group commit in cluster),
// 256-byte payloads. Each benchmark starts one node in its parent function
// and runs its measurements as sub-benchmarks, so the node's start-up (raft
// election) is paid once and not once per b.N ramp step.
//
// Each reports its throughput as events/s or ops/s (b.N x items per op over
// the measured wall time). Run one at a time, e.g.:
//
//	go test ./storage -run '^$' -bench 'WriteEvents|KV|Queue' -benchtime 3s
//	FLOWMESH_BENCH_BIG=1 go test ./storage -run '^$' -bench Snapshot1GiB -benchtime 1x -timeout 30m

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

const benchPayloadSize = 256

// startBenchNode is startNode for a benchmark: a node in b's temp dir with the
// real clock, stopped when b's tests end.
func startBenchNode(b *testing.B) *storage.Storage {
	b.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.Logger = quietLogger()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			b.Errorf("stop: %v", err)
		}
	})
	return s
}

func benchPayload() []byte {
	p := make([]byte, benchPayloadSize)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}

// runWorkers runs b.N operations on workers goroutines, handing out the
// operation numbers 0..b.N-1 from a shared counter; op gets the worker number
// and the operation number. The timer covers only the operations. The first
// error stops all workers and fails b.
func runWorkers(b *testing.B, workers int, op func(w, i int) error) {
	b.Helper()
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	n := int64(b.N)
	b.ResetTimer()
	b.StartTimer()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := next.Add(1) - 1
				if i >= n {
					return
				}
				if err := op(w, int(i)); err != nil {
					if failed.CompareAndSwap(false, true) {
						b.Errorf("worker %d op %d: %v", w, i, err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
}

// reportRate reports b.N*perOp items per second of measured time as unit.
func reportRate(b *testing.B, perOp int, unit string) {
	if sec := b.Elapsed().Seconds(); sec > 0 {
		b.ReportMetric(float64(b.N*perOp)/sec, unit)
	}
}

func benchStream(b *testing.B, s *storage.Storage, name string, partitions int) string {
	b.Helper()
	r, err := s.MetaStore().CreateStream(context.Background(), "bench", "ns", name, partitions)
	if err != nil {
		b.Fatal(err)
	}
	return r.GetPath()
}

// BenchmarkWriteEvents64Writers: 64 writers, one event per WriteEvents call.
// Bar: >= 50k events/s.
func BenchmarkWriteEvents64Writers(b *testing.B) {
	s := startBenchNode(b)
	const partitions = 8
	path := benchStream(b, s, "w64", partitions)
	sm := s.StreamManager()
	payload := benchPayload()
	ctx := context.Background()
	for _, writers := range []int{64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			runWorkers(b, writers, func(w, _ int) error {
				_, err := sm.WriteEvents(ctx, path, []flowmesh.StreamEvent{{Payload: payload, Partition: w % partitions}})
				return err
			})
			reportRate(b, 1, "events/s")
		})
	}
}

// BenchmarkWriteEventsBatch100: WriteEvents calls of 100 events, from 1, 4
// and 8 concurrent writers. Bar: >= 300k events/s.
func BenchmarkWriteEventsBatch100(b *testing.B) {
	s := startBenchNode(b)
	const partitions = 8
	path := benchStream(b, s, "b100", partitions)
	sm := s.StreamManager()
	payload := benchPayload()
	ctx := context.Background()
	for _, writers := range []int{1, 4, 8} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			batches := make([][]flowmesh.StreamEvent, writers)
			for w := range batches {
				batches[w] = make([]flowmesh.StreamEvent, 100)
				for j := range batches[w] {
					batches[w][j] = flowmesh.StreamEvent{Payload: payload, Partition: w % partitions}
				}
			}
			runWorkers(b, writers, func(w, _ int) error {
				_, err := sm.WriteEvents(ctx, path, batches[w])
				return err
			})
			reportRate(b, 100, "events/s")
		})
	}
}

func benchKV(b *testing.B, s *storage.Storage, name string) string {
	b.Helper()
	r, err := s.MetaStore().CreateKVStore(context.Background(), "bench", "ns", name)
	if err != nil {
		b.Fatal(err)
	}
	return r.GetPath()
}

// BenchmarkKVPut64: 64 concurrent unconditional Puts over 64k keys.
// Bar: >= 40k puts/s.
func BenchmarkKVPut64(b *testing.B) {
	s := startBenchNode(b)
	path := benchKV(b, s, "put64")
	kv := s.KVManager()
	payload := benchPayload()
	ctx := context.Background()
	b.Run("writers=64", func(b *testing.B) {
		runWorkers(b, 64, func(w, i int) error {
			_, err := kv.Put(ctx, path, fmt.Sprintf("key-%02d-%04d", w, i%1024), payload, flowmesh.KVPutOptions{})
			return err
		})
		reportRate(b, 1, "ops/s")
	})
}

// BenchmarkKVGetLinearizable: 64 concurrent Gets of 1024 existing keys, at
// Linearizable (bar: >= 200k/s), Leader and Stale consistency.
func BenchmarkKVGetLinearizable(b *testing.B) {
	s := startBenchNode(b)
	path := benchKV(b, s, "get")
	kv := s.KVManager()
	payload := benchPayload()
	ctx := context.Background()
	const keys = 1024
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < keys; k += 64 {
				if _, err := kv.Put(ctx, path, fmt.Sprintf("key-%04d", k), payload, flowmesh.KVPutOptions{}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	names := make([]string, keys)
	for k := range names {
		names[k] = fmt.Sprintf("key-%04d", k)
	}
	for _, c := range []struct {
		name string
		c    flowmesh.Consistency
	}{{"linearizable", flowmesh.Linearizable}, {"leader", flowmesh.Leader}, {"stale", flowmesh.Stale}} {
		opt := flowmesh.WithConsistency(c.c)
		b.Run(c.name+"/readers=64", func(b *testing.B) {
			runWorkers(b, 64, func(_, i int) error {
				e, err := kv.Get(ctx, path, names[i%keys], opt)
				if err == nil && len(e.Value) != benchPayloadSize {
					err = fmt.Errorf("value is %d bytes", len(e.Value))
				}
				return err
			})
			reportRate(b, 1, "ops/s")
		})
	}
}

// BenchmarkKVGetStale is the Stale variant on its own.
func BenchmarkKVGetStale(b *testing.B) {
	s := startBenchNode(b)
	path := benchKV(b, s, "stale")
	kv := s.KVManager()
	ctx := context.Background()
	if _, err := kv.Put(ctx, path, "k", benchPayload(), flowmesh.KVPutOptions{}); err != nil {
		b.Fatal(err)
	}
	opt := flowmesh.WithConsistency(flowmesh.Stale)
	b.Run("readers=64", func(b *testing.B) {
		runWorkers(b, 64, func(_, _ int) error {
			_, err := kv.Get(ctx, path, "k", opt)
			return err
		})
		reportRate(b, 1, "ops/s")
	})
}

func benchQueue(b *testing.B, s *storage.Storage, name string) string {
	b.Helper()
	r, err := s.MetaStore().CreateQueue(context.Background(), "bench", "ns", name, 1)
	if err != nil {
		b.Fatal(err)
	}
	return r.GetPath()
}

// BenchmarkQueueEnqueue16: 16 concurrent producers. Bar: >= 20k jobs/s.
func BenchmarkQueueEnqueue16(b *testing.B) {
	s := startBenchNode(b)
	path := benchQueue(b, s, "enq")
	q := s.QueueManager()
	payload := benchPayload()
	ctx := context.Background()
	b.Run("producers=16", func(b *testing.B) {
		runWorkers(b, 16, func(_, _ int) error {
			_, _, err := q.Enqueue(ctx, path, payload, flowmesh.QueueEnqueueOptions{})
			return err
		})
		reportRate(b, 1, "jobs/s")
	})
}

// BenchmarkQueueReserveAck16: 16 concurrent workers, each op one Reserve
// and one Ack of the reserved job (two raft commands). The b.N jobs are
// enqueued, untimed, before each run. Bar: >= 20k jobs/s.
func BenchmarkQueueReserveAck16(b *testing.B) {
	s := startBenchNode(b)
	path := benchQueue(b, s, "res")
	q := s.QueueManager()
	payload := benchPayload()
	ctx := context.Background()
	b.Run("workers=16", func(b *testing.B) {
		runWorkers(b, 64, func(_, _ int) error {
			_, _, err := q.Enqueue(ctx, path, payload, flowmesh.QueueEnqueueOptions{})
			return err
		})
		st, err := q.Stats(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		if st.Ready < b.N {
			b.Fatalf("%d ready jobs, want %d", st.Ready, b.N)
		}
		runWorkers(b, 16, func(_, _ int) error {
			job, err := q.Reserve(ctx, path, time.Minute)
			if err != nil {
				return err
			}
			if job == nil {
				return fmt.Errorf("no ready job")
			}
			return q.Ack(ctx, path, job.Receipt)
		})
		reportRate(b, 1, "jobs/s")
	})
}

// bigBenchEnabled reports whether a benchmark that writes gigabytes should
// run: FLOWMESH_BENCH_BIG=1, or -test.bench names it literally.
func bigBenchEnabled(name string) bool {
	if os.Getenv("FLOWMESH_BENCH_BIG") == "1" {
		return true
	}
	f := flag.Lookup("test.bench")
	return f != nil && strings.Contains(f.Value.String(), name)
}

// BenchmarkSnapshot1GiB times s.Snapshot after 100 MiB and after 1 GiB of
// stream payload (batches of 100 x 256 bytes from 8 writers). Bar: < 1 s and
// not growing with the bytes stored. The work does not scale with b.N: run
// it with -benchtime 1x.
func BenchmarkSnapshot1GiB(b *testing.B) {
	if !bigBenchEnabled("Snapshot1GiB") {
		b.Skip("writes 1 GiB: set FLOWMESH_BENCH_BIG=1 or name it in -bench")
	}
	s := startBenchNode(b)
	const partitions = 8
	path := benchStream(b, s, "snap", partitions)
	sm := s.StreamManager()
	payload := benchPayload()
	ctx := context.Background()
	const batchBytes = 100 * benchPayloadSize
	var written atomic.Int64 // payload bytes
	fill := func(target int64) {
		b.Helper()
		var wg sync.WaitGroup
		var failed atomic.Bool
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				batch := make([]flowmesh.StreamEvent, 100)
				for j := range batch {
					batch[j] = flowmesh.StreamEvent{Payload: payload, Partition: w % partitions}
				}
				for !failed.Load() && written.Add(batchBytes) <= target {
					if _, err := sm.WriteEvents(ctx, path, batch); err != nil {
						if failed.CompareAndSwap(false, true) {
							b.Errorf("write: %v", err)
						}
						return
					}
				}
			}()
		}
		wg.Wait()
		written.Store(target)
		if failed.Load() {
			b.FailNow()
		}
	}
	snap := func() time.Duration {
		b.Helper()
		start := time.Now()
		if err := s.Snapshot(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		written.Store(0)
		start := time.Now()
		fill(100 << 20)
		b.Logf("wrote 100 MiB in %v", time.Since(start))
		small := snap()
		start = time.Now()
		fill(1 << 30)
		b.Logf("wrote 1 GiB in %v", time.Since(start))
		big := snap()
		b.Logf("snapshot after 100 MiB: %v, after 1 GiB: %v", small, big)
		b.ReportMetric(small.Seconds(), "s-snap@100MiB")
		b.ReportMetric(big.Seconds(), "s-snap@1GiB")
		b.ReportMetric(big.Seconds()/max(small.Seconds(), 1e-9), "ratio-1GiB/100MiB")
	}
}
