package rpc_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TestRemoveFromInFlightStaleStatus: on the wire, a RemoveFromInFlight from
// a worker whose reservation expired (another worker holds the job now) is
// FailedPrecondition with a STALE_RECEIPT detail, as a stale Ack is, and the
// current holder's succeeds.
func TestRemoveFromInFlightStaleStatus(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	ctx := ctxFor(t)
	queues := pb.NewQueueServiceClient(cc)
	if _, err := n.newClient(t).CreateQueue(ctx, "t", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	const q = "t/ns/q"
	if _, err := queues.Enqueue(ctx, &pb.EnqueueRequest{Path: q, Payload: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	a, err := queues.Reserve(ctx, &pb.ReserveRequest{Path: q, Visibility: durationpb.New(10 * time.Second)})
	if err != nil || a.GetJob() == nil {
		t.Fatalf("A's Reserve = %v, %v", a, err)
	}
	n.advance(11 * time.Second)
	b, err := queues.Reserve(ctx, &pb.ReserveRequest{Path: q, Visibility: durationpb.New(time.Minute), Wait: durationpb.New(10 * time.Second)})
	if err != nil || b.GetJob().GetAttempt() != 2 {
		t.Fatalf("B's Reserve after A's reservation expired = %v, %v; want attempt 2", b, err)
	}
	_, err = queues.RemoveFromInFlight(ctx, &pb.RemoveFromInFlightRequest{Path: q, JobId: a.GetJob().GetId()})
	st := status.Convert(err)
	var d *pb.ErrorDetail
	for _, x := range st.Details() {
		d, _ = x.(*pb.ErrorDetail)
	}
	if st.Code() != codes.FailedPrecondition || d.GetCode() != pb.ErrorCode_ERROR_CODE_STALE_RECEIPT {
		t.Errorf("A's RemoveFromInFlight(%q) = %v (detail %v), want FailedPrecondition with a STALE_RECEIPT detail", a.GetJob().GetId(), st.Err(), d)
	}
	if _, err := queues.RemoveFromInFlight(ctx, &pb.RemoveFromInFlightRequest{Path: q, JobId: b.GetJob().GetId()}); err != nil {
		t.Errorf("B's RemoveFromInFlight(%q): %v", b.GetJob().GetId(), err)
	}
	s, err := queues.Stats(ctx, &pb.StatsRequest{Path: q})
	if err != nil || s.GetStats().GetInFlight() != 0 || s.GetStats().GetReady() != 0 {
		t.Errorf("Stats after B's removal = %v, %v; want an empty queue", s, err)
	}
}
