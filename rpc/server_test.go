package rpc_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestToolingServices checks what grpcurl and grpc-health-probe need:
// grpc.health.v1 reports SERVING and reflection lists every service.
func TestToolingServices(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	ctx := ctxFor(t)
	for _, svc := range []string{"", "flowmesh.v1.KVService", "flowmesh.v1.StreamService"} {
		resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health(%q) = %v, %v; want SERVING", svc, resp, err)
		}
	}

	rs, err := reflectionpb.NewServerReflectionClient(cc).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rs.Recv()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		got[s.GetName()] = true
	}
	for _, want := range []string{"flowmesh.v1.ResourceService", "flowmesh.v1.StreamService", "flowmesh.v1.QueueService",
		"flowmesh.v1.KVService", "flowmesh.v1.ClusterService", "grpc.health.v1.Health"} {
		if !got[want] {
			t.Errorf("reflection does not list %s (got %v)", want, got)
		}
	}

	st, err := n.newClient(t).Status(ctx)
	if err != nil || st.Role != "leader" || st.LeaderGRPCAddr != n.addr || st.NodeID == "" || st.Term == 0 {
		t.Errorf("Status = %+v, %v; want this node as leader at %s", st, err, n.addr)
	}

	n.server.SetServing(false)
	r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("after SetServing(false) health = %v, %v; want NOT_SERVING", r, err)
	}
}

// TestBoundaryValidation sends malformed requests straight over gRPC (the
// client would refuse some of them) and checks the code and the field.
func TestBoundaryValidation(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	ctx := ctxFor(t)
	kv := pb.NewKVServiceClient(cc)
	streams := pb.NewStreamServiceClient(cc)
	queues := pb.NewQueueServiceClient(cc)
	if _, err := n.newClient(t).CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, flowmesh.MaxPayloadSize+1)
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string
	}{
		{"bad path", func() error { _, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns", Key: "k"}); return err }, codes.InvalidArgument, "path"},
		{"empty key", func() error { _, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv"}); return err }, codes.InvalidArgument, "key"},
		{"value too big", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Value: big})
			return err
		}, codes.ResourceExhausted, ""},
		{"negative ttl", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Ttl: durationpb.New(-time.Second)})
			return err
		}, codes.InvalidArgument, "ttl"},
		{"invalid duration", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Ttl: &durationpb.Duration{Seconds: 1, Nanos: -5}})
			return err
		}, codes.InvalidArgument, "ttl"},
		{"unknown consistency", func() error {
			_, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k", Options: &pb.CallOptions{Consistency: 9}})
			return err
		}, codes.InvalidArgument, "consistency"},
		{"long request id", func() error {
			_, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Options: &pb.CallOptions{RequestId: strings.Repeat("r", flowmesh.MaxRequestIDLen+1)}})
			return err
		}, codes.InvalidArgument, "request_id"},
		{"batch over MaxBatchBytes", func() error {
			half := make([]byte, flowmesh.MaxBatchBytes/2+1)
			_, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: "t/ns/s", Events: []*pb.StreamEvent{{Payload: half}, {Payload: half}}})
			return err
		}, codes.ResourceExhausted, ""},
		{"batch over MaxBatchEvents", func() error {
			evs := make([]*pb.StreamEvent, flowmesh.MaxBatchEvents+1)
			for i := range evs {
				evs[i] = &pb.StreamEvent{}
			}
			_, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: "t/ns/s", Events: evs})
			return err
		}, codes.ResourceExhausted, ""},
		{"empty batch", func() error { _, err := streams.WriteEvents(ctx, &pb.WriteEventsRequest{Path: "t/ns/s"}); return err }, codes.InvalidArgument, "events"},
		{"empty group", func() error { _, err := streams.FetchOffset(ctx, &pb.FetchOffsetRequest{Path: "t/ns/s"}); return err }, codes.InvalidArgument, "group"},
		{"negative partition", func() error {
			_, err := streams.PartitionInfo(ctx, &pb.PartitionInfoRequest{Path: "t/ns/s", Partition: -1})
			return err
		}, codes.InvalidArgument, "partition"},
		{"nil receipt", func() error { _, err := queues.Ack(ctx, &pb.AckRequest{Path: "t/ns/q"}); return err }, codes.InvalidArgument, "receipt.job_id"},
		{"wait too long", func() error {
			_, err := queues.Reserve(ctx, &pb.ReserveRequest{Path: "t/ns/q", Wait: durationpb.New(flowmesh.MaxReservePoll + time.Second)})
			return err
		}, codes.InvalidArgument, "wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("got %v, want code %v", err, tt.code)
			}
			var d *pb.ErrorDetail
			for _, x := range st.Details() {
				d, _ = x.(*pb.ErrorDetail)
			}
			if d == nil {
				t.Fatalf("no ErrorDetail in %v", st)
			}
			if d.GetField() != tt.field {
				t.Errorf("detail field = %q, want %q (%v)", d.GetField(), tt.field, st.Message())
			}
		})
	}
	if n.metrics.count("/flowmesh.v1.KVService/Put", codes.InvalidArgument) < 3 {
		t.Errorf("metrics saw %d InvalidArgument Puts, want at least 3", n.metrics.count("/flowmesh.v1.KVService/Put", codes.InvalidArgument))
	}
}

// TestMessageSizes checks that a full batch of MaxBatchBytes gets through
// and a request beyond MaxRecvMsgSize is refused by gRPC itself.
func TestMessageSizes(t *testing.T) {
	n := startNode(t)
	c := n.newClient(t)
	ctx := ctxFor(t)
	s, err := c.CreateStream(ctx, "t", "ns", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]flowmesh.StreamEvent, 0, flowmesh.MaxBatchEvents)
	per := flowmesh.MaxBatchBytes / flowmesh.MaxBatchEvents
	for range flowmesh.MaxBatchEvents {
		evs = append(evs, flowmesh.StreamEvent{Payload: make([]byte, per-8), Headers: map[string]string{"a": "b", "c": "d"}, Key: "kk"})
	}
	if pos, err := c.WriteEvents(ctx, s.GetPath(), evs); err != nil || len(pos) != len(evs) {
		t.Fatalf("WriteEvents of a full batch: %d positions, %v", len(pos), err)
	}
	huge := &pb.WriteEventsRequest{Path: s.GetPath(), Events: []*pb.StreamEvent{{Payload: make([]byte, rpc.DefaultMaxRecvMsgSize)}}}
	_, err = pb.NewStreamServiceClient(dial(t, n.addr)).WriteEvents(ctx, huge)
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized request: got %v, want ResourceExhausted", err)
	}
}

// TestPanicsBecomeInternal serves a node with no methods: every call
// panics on a nil interface, and the server answers Internal and lives on.
//
// panicNode is such a node: every call panics.
type panicNode struct{ rpc.Node }

func TestPanicsBecomeInternal(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &countingMetrics{}
	srv := rpc.NewServer(rpc.Config{Metrics: m, Logger: quietLogger()}, panicNode{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	cc := dial(t, lis.Addr().String())
	ctx := ctxFor(t)
	for range 2 {
		_, err := pb.NewKVServiceClient(cc).Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k"})
		if status.Code(err) != codes.Internal {
			t.Fatalf("got %v, want Internal", err)
		}
		err = subscribeOnce(ctx, cc)
		if status.Code(err) != codes.Internal {
			t.Fatalf("stream: got %v, want Internal", err)
		}
	}
	if got := m.count("/flowmesh.v1.KVService/Get", codes.Internal); got != 2 {
		t.Errorf("metrics counted %d Internal Gets, want 2", got)
	}
	if _, err := pb.NewClusterServiceClient(cc).Status(ctx, &pb.StatusRequest{}); status.Code(err) != codes.Internal {
		t.Errorf("Status: got %v, want Internal", err)
	}
}

func subscribeOnce(ctx context.Context, cc *grpc.ClientConn) error {
	s, err := pb.NewStreamServiceClient(cc).Subscribe(ctx, &pb.SubscribeRequest{Path: "t/ns/s"})
	if err != nil {
		return err
	}
	_, err = s.Recv()
	return err
}

func TestConfigValidate(t *testing.T) {
	if err := rpc.DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
	err := rpc.Config{MaxRecvMsgSize: 1024, MaxResponseBytes: -1}.Validate()
	if err == nil || !errors.Is(err, flowmesh.ErrInvalidArgument) || !strings.Contains(err.Error(), "MaxRecvMsgSize") || !strings.Contains(err.Error(), "MaxResponseBytes") {
		t.Errorf("Validate = %v, want both problems", err)
	}
}

// TestShutdownEndsStreams: a graceful stop does not wait for Subscribe
// streams; they end with Unavailable (node stopped) so clients resume on
// another node.
func TestShutdownEndsStreams(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t)
	c := n.newClient(t)
	s, err := c.CreateStream(ctx, "t", "ns", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("e")}}); err != nil {
		t.Fatal(err)
	}
	sub, err := pb.NewStreamServiceClient(dial(t, n.addr)).Subscribe(ctx, &pb.SubscribeRequest{Path: s.GetPath()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Recv(); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := n.server.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown = %v, want a graceful stop", err)
	}
	_, err = sub.Recv()
	st := status.Convert(err)
	var code pb.ErrorCode
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			code = ed.GetCode()
		}
	}
	if st.Code() != codes.Unavailable || code != pb.ErrorCode_ERROR_CODE_STOPPED {
		t.Errorf("stream ended with %v (detail %v), want Unavailable with STOPPED", err, code)
	}
}
