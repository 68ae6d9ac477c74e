package client_test

import (
	"context"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/grpcmetrics"
	"github.com/flowmesh/flowmesh/rpc"
)

// The benchmarks below measure the per-request cost of the gRPC layer on
// both sides (SDK and rpc.Server, with the node's Prometheus metrics) over
// real loopback connections, with a KV backend that answers at once, so
// nothing but the request path is measured. As in a cluster, the client
// starts at a follower that forwards its first call to the leader, learns
// the leader from the forwarded call's header and then calls it direct.
// Besides ns/op they report the process CPU per operation (cpu-ns/op),
// which is what a CPU-bound node cares about.

// stubKV answers every KV call at once; as a follower it answers NotLeader.
type stubKV struct {
	rpc.Node // nil: only Put and Get are called
	leader   *flowmesh.NotLeaderError
	rev      atomic.Uint64
	value    []byte
	record   bool                        // keep lastMD
	lastMD   atomic.Pointer[metadata.MD] // incoming metadata of the last Put
	puts     atomic.Int64                // Put calls served
}

func (s *stubKV) Put(ctx context.Context, path, key string, value []byte, opts flowmesh.KVPutOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	s.puts.Add(1)
	if s.record {
		md, _ := metadata.FromIncomingContext(ctx)
		s.lastMD.Store(&md)
	}
	if s.leader != nil {
		return 0, s.leader
	}
	return s.rev.Add(1), nil
}

func (s *stubKV) Get(ctx context.Context, path, key string, opts ...flowmesh.CallOption) (flowmesh.KVEntry, error) {
	if s.leader != nil {
		return flowmesh.KVEntry{}, s.leader
	}
	return flowmesh.KVEntry{Key: key, Value: s.value, Revision: 7, CreateRevision: 3}, nil
}

func serveStubT(b testing.TB, kv *stubKV) string {
	b.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// The node's Prometheus metrics, as every node runs them.
	srv := rpc.NewServer(rpc.Config{Logger: slog.New(slog.DiscardHandler), Metrics: grpcmetrics.New()}, kv)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(lis)
	}()
	b.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return lis.Addr().String()
}

// serveStubPair serves a stub leader answering value and a stub follower
// that names it in its NotLeader answers; record: both keep lastMD.
func serveStubPair(t testing.TB, value []byte, record bool) (lkv *stubKV, leader string, fkv *stubKV, follower string) {
	t.Helper()
	lkv = &stubKV{value: value, record: record}
	leader = serveStubT(t, lkv)
	fkv = &stubKV{record: record, leader: &flowmesh.NotLeaderError{LeaderID: "leader", LeaderAddr: leader}}
	follower = serveStubT(t, fkv)
	return lkv, leader, fkv, follower
}

// stubPair returns a client that has learnt the leader of a stub follower
// and leader pair.
func stubPair(b *testing.B) *client.Client {
	b.Helper()
	value := make([]byte, 256)
	_, leader, _, follower := serveStubPair(b, value, false)
	c, err := client.New(client.Config{Endpoints: []string{follower, leader}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	ctx := context.Background()
	for range 3 { // the first call is forwarded; later ones go direct
		if _, err := c.Put(ctx, "t/ns/kv", "k", value, flowmesh.KVPutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runParallel runs op from 64 goroutines (as flowmesh bench -c 64 does)
// and reports CPU per operation.
func runParallel(b *testing.B, op func(ctx context.Context) error) {
	b.ReportAllocs()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	ctx := context.Background()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func BenchmarkRPCPut(b *testing.B) {
	c := stubPair(b)
	value := make([]byte, 256)
	runParallel(b, func(ctx context.Context) error {
		_, err := c.Put(ctx, "t/ns/kv", "key-00001234", value, flowmesh.KVPutOptions{})
		return err
	})
}

func BenchmarkRPCGet(b *testing.B) {
	c := stubPair(b)
	runParallel(b, func(ctx context.Context) error {
		_, err := c.Get(ctx, "t/ns/kv", "key-00001234")
		return err
	})
}

// BenchmarkRPCPutSerial is one caller: the latency of the request path.
func BenchmarkRPCPutSerial(b *testing.B) {
	c := stubPair(b)
	value := make([]byte, 256)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		if _, err := c.Put(ctx, "t/ns/kv", "key-00001234", value, flowmesh.KVPutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}
