package main

import (
	"bytes"
	"context"
	"net"
	"sync"
	"syscall"
	"testing"

	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
)

// collector is an in-process OTLP/gRPC trace collector keeping what it is
// sent.
type collector struct {
	collectorpb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
	attrs map[string]string // resource attributes (string values)
}

func (c *collector) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		for _, kv := range rs.GetResource().GetAttributes() {
			c.attrs[kv.Key] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			c.spans = append(c.spans, ss.Spans...)
		}
	}
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func startCollector(t *testing.T) (*collector, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{attrs: map[string]string{}}
	s := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(s, c)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return c, lis.Addr().String()
}

// TestNodeExportsTraces runs the node binary with --otlp-endpoint at an
// in-process collector: after a put and SIGTERM (the exporter batches every
// 5s, so only the shutdown's flush can have sent them) the collector holds
// the put's server span and its raft.apply child, from service
// flowmesh-node with the node's ID.
func TestNodeExportsTraces(t *testing.T) {
	col, addr := startCollector(t)
	p := startNode(t, t.TempDir(), "--otlp-endpoint", addr, "--otlp-insecure", "--id", "traced-1")
	ctx := context.Background()
	c := newClient(t, p.grpcAddr)
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "cfg"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "t1/ns1/cfg", "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d\n%s", code, p.logs.String())
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	var put *tracepb.Span
	var names []string
	for _, s := range col.spans {
		names = append(names, s.Name)
		if s.Name == "flowmesh.v1.KVService/Put" && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
			put = s
		}
	}
	if put == nil {
		t.Fatalf("no Put server span among %v", names)
	}
	var apply *tracepb.Span
	for _, s := range col.spans {
		if s.Name == "raft.apply" && bytes.Equal(s.ParentSpanId, put.SpanId) {
			apply = s
		}
	}
	if apply == nil || !bytes.Equal(apply.TraceId, put.TraceId) {
		t.Errorf("no raft.apply span under the Put server span among %v", names)
	}
	if col.attrs["service.name"] != "flowmesh-node" || col.attrs["flowmesh.node.id"] != "traced-1" {
		t.Errorf("resource attributes %v: want service.name flowmesh-node, flowmesh.node.id traced-1", col.attrs)
	}
}
