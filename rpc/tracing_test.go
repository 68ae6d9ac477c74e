package rpc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// findSpan returns the one ended span of rec named name of kind kind.
func findSpan(rec *tracetest.SpanRecorder, name string, kind trace.SpanKind) (sdktrace.ReadOnlySpan, error) {
	var found []sdktrace.ReadOnlySpan
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name()+"/"+s.SpanKind().String())
		if s.Name() == name && s.SpanKind() == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%d %s spans named %q among %v", len(found), kind, name, names)
	}
	return found[0], nil
}

// TestTracingAcrossForwarding sends a put to a follower of a two-node
// cluster whose nodes each record their spans: the follower's server span,
// its forwarding client span, the leader's server span and the leader's
// raft.apply span form one trace, each the parent of the next.
func TestTracingAcrossForwarding(t *testing.T) {
	var recs []*tracetest.SpanRecorder
	nodes := rpctest.StartClusterWith(t, 2, nil, func(c *rpc.Config) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		t.Cleanup(func() { tp.Shutdown(t.Context()) })
		recs = append(recs, rec)
		c.TracerProvider = tp
	})
	recOf := func(n *rpctest.Node) *tracetest.SpanRecorder {
		for i, nd := range nodes {
			if nd == n {
				return recs[i]
			}
		}
		t.Fatalf("no recorder for %s", n.ID)
		return nil
	}
	leader := rpctest.Leader(t, nodes)
	fol := rpctest.Followers(nodes, leader)[0]
	cc := dial(t, fol.Addr)
	ctx := ctxFor(t)
	if _, err := pb.NewResourceServiceClient(cc).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	// Only the put's spans from here on.
	rpctest.WaitFor(t, 10*time.Second, "the create's spans ended", func() error {
		_, err := findSpan(recOf(leader), "raft.apply", trace.SpanKindInternal)
		return err
	})
	recOf(leader).Reset()
	recOf(fol).Reset()

	var hdr metadata.MD
	if _, err := pb.NewKVServiceClient(cc).Put(ctx, &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("v")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if len(hdr.Get(rpc.MetadataLeader)) == 0 {
		t.Fatal("the put was not forwarded (no leader header)")
	}
	const put = "flowmesh.v1.KVService/Put"
	var folServer, folClient, leadServer, apply sdktrace.ReadOnlySpan
	rpctest.WaitFor(t, 10*time.Second, "the put's four spans ended", func() (err error) {
		if folServer, err = findSpan(recOf(fol), put, trace.SpanKindServer); err != nil {
			return fmt.Errorf("follower: %w", err)
		}
		if folClient, err = findSpan(recOf(fol), put, trace.SpanKindClient); err != nil {
			return fmt.Errorf("follower: %w", err)
		}
		if leadServer, err = findSpan(recOf(leader), put, trace.SpanKindServer); err != nil {
			return fmt.Errorf("leader: %w", err)
		}
		if apply, err = findSpan(recOf(leader), "raft.apply", trace.SpanKindInternal); err != nil {
			return fmt.Errorf("leader: %w", err)
		}
		return nil
	})
	tid := folServer.SpanContext().TraceID()
	for _, s := range []sdktrace.ReadOnlySpan{folClient, leadServer, apply} {
		if got := s.SpanContext().TraceID(); got != tid {
			t.Errorf("%s %s: trace %s, want the follower's %s", s.Name(), s.SpanKind(), got, tid)
		}
	}
	parentOf := func(child, parent sdktrace.ReadOnlySpan, what string) {
		t.Helper()
		if got, want := child.Parent().SpanID(), parent.SpanContext().SpanID(); got != want {
			t.Errorf("%s: parent span %s, want %s", what, got, want)
		}
	}
	parentOf(folClient, folServer, "forwarding client span under the follower's server span")
	parentOf(leadServer, folClient, "leader's server span under the forwarding client span")
	if !leadServer.Parent().IsRemote() {
		t.Error("the leader's server span's parent is not remote")
	}
	parentOf(apply, leadServer, "raft.apply under the leader's server span")
	attrs := map[string]int64{}
	for _, kv := range apply.Attributes() {
		attrs[string(kv.Key)] = kv.Value.AsInt64()
	}
	if attrs["raft.log.index"] <= 0 || attrs["raft.batch.commands"] < 1 || attrs["flowmesh.command.bytes"] <= 0 {
		t.Errorf("raft.apply attributes %v: want a log index, a batch size and the command's bytes", apply.Attributes())
	}
	if n, err := findSpan(recOf(fol), "raft.apply", trace.SpanKindInternal); err == nil {
		t.Errorf("the follower recorded a raft.apply span: %v", n.Name())
	}
}

// TestTracingOff: without Config.TracerProvider a forwarded put records
// nothing, not even through the process-global provider, and still works.
func TestTracingOff(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); tp.Shutdown(t.Context()) })

	nodes := rpctest.StartCluster(t, 2, nil)
	leader := rpctest.Leader(t, nodes)
	cc := dial(t, rpctest.Followers(nodes, leader)[0].Addr)
	ctx := ctxFor(t)
	if _, err := pb.NewResourceServiceClient(cc).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	var hdr metadata.MD
	if _, err := pb.NewKVServiceClient(cc).Put(ctx, &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("v")}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if len(hdr.Get(rpc.MetadataLeader)) == 0 {
		t.Fatal("the put was not forwarded (no leader header)")
	}
	var names []string
	for _, s := range rec.Started() {
		names = append(names, s.Name())
	}
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if len(names) != 0 {
		t.Errorf("tracing off recorded %d spans: %s", len(names), strings.Join(names, ", "))
	}
}
