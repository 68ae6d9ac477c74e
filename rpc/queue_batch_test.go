package rpc_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// TestBatchBoundaryValidation: the batch RPCs refuse malformed requests at
// the boundary with the offending field (or limit) in the ErrorDetail.
func TestBatchBoundaryValidation(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	ctx := ctxFor(t)
	queues := pb.NewQueueServiceClient(cc)
	if _, err := n.newClient(t).CreateQueue(ctx, "t", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	const q = "t/ns/q"
	job := func(p string) *pb.EnqueueBatchItem { return &pb.EnqueueBatchItem{Payload: []byte(p)} }
	manyJobs := make([]*pb.EnqueueBatchItem, flowmesh.MaxQueueBatch+1)
	for i := range manyJobs {
		manyJobs[i] = job("x")
	}
	manyReceipts := make([]*pb.Receipt, flowmesh.MaxQueueBatch+1)
	for i := range manyReceipts {
		manyReceipts[i] = &pb.Receipt{JobId: "1", Attempt: 1}
	}
	half := make([]byte, flowmesh.MaxBatchBytes/2+1)
	tests := []struct {
		name  string
		call  func() error
		code  codes.Code
		field string // InvalidArgument: the field; ResourceExhausted: the limit's What
	}{
		{"enqueue: bad path", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: "t/ns", Jobs: []*pb.EnqueueBatchItem{job("a")}})
			return err
		}, codes.InvalidArgument, "path"},
		{"enqueue: empty batch", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q})
			return err
		}, codes.InvalidArgument, "jobs"},
		{"enqueue: over MaxQueueBatch", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q, Jobs: manyJobs})
			return err
		}, codes.ResourceExhausted, "jobs per batch"},
		{"enqueue: over MaxBatchBytes", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q, Jobs: []*pb.EnqueueBatchItem{{Payload: half}, {Payload: half}}})
			return err
		}, codes.ResourceExhausted, "batch bytes"},
		{"enqueue: payload over MaxPayloadSize", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q, Jobs: []*pb.EnqueueBatchItem{job("a"), {Payload: make([]byte, flowmesh.MaxPayloadSize+1)}}})
			return err
		}, codes.ResourceExhausted, "jobs[1].payload bytes"},
		{"enqueue: negative delay", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q, Jobs: []*pb.EnqueueBatchItem{job("a"), {Delay: durationpb.New(-time.Second)}}})
			return err
		}, codes.InvalidArgument, "jobs[1].delay"},
		{"enqueue: long dedup id", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q, Jobs: []*pb.EnqueueBatchItem{{DedupId: strings.Repeat("d", flowmesh.MaxRequestIDLen+1)}}})
			return err
		}, codes.InvalidArgument, "jobs[0].dedup_id"},
		{"enqueue: long request id", func() error {
			_, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: q, Jobs: []*pb.EnqueueBatchItem{job("a")}, Options: &pb.CallOptions{RequestId: strings.Repeat("r", flowmesh.MaxRequestIDLen+1)}})
			return err
		}, codes.InvalidArgument, "request_id"},
		{"reserve: max 0", func() error {
			_, err := queues.ReserveBatch(ctx, &pb.ReserveBatchRequest{Path: q})
			return err
		}, codes.InvalidArgument, "max"},
		{"reserve: max over MaxQueueBatch", func() error {
			_, err := queues.ReserveBatch(ctx, &pb.ReserveBatchRequest{Path: q, Max: flowmesh.MaxQueueBatch + 1})
			return err
		}, codes.InvalidArgument, "max"},
		{"reserve: visibility over MaxVisibility", func() error {
			_, err := queues.ReserveBatch(ctx, &pb.ReserveBatchRequest{Path: q, Max: 1, Visibility: durationpb.New(flowmesh.MaxVisibility + time.Second)})
			return err
		}, codes.InvalidArgument, "visibility"},
		{"reserve: wait too long", func() error {
			_, err := queues.ReserveBatch(ctx, &pb.ReserveBatchRequest{Path: q, Max: 1, Wait: durationpb.New(flowmesh.MaxReservePoll + time.Second)})
			return err
		}, codes.InvalidArgument, "wait"},
		{"ack: empty batch", func() error {
			_, err := queues.AckBatch(ctx, &pb.AckBatchRequest{Path: q})
			return err
		}, codes.InvalidArgument, "receipts"},
		{"ack: over MaxQueueBatch", func() error {
			_, err := queues.AckBatch(ctx, &pb.AckBatchRequest{Path: q, Receipts: manyReceipts})
			return err
		}, codes.ResourceExhausted, "receipts per batch"},
		{"ack: nil receipt", func() error {
			_, err := queues.AckBatch(ctx, &pb.AckBatchRequest{Path: q, Receipts: []*pb.Receipt{{JobId: "1", Attempt: 1}, nil}})
			return err
		}, codes.InvalidArgument, "receipts[1].job_id"},
		{"ack: attempt 0", func() error {
			_, err := queues.AckBatch(ctx, &pb.AckBatchRequest{Path: q, Receipts: []*pb.Receipt{{JobId: "1"}}})
			return err
		}, codes.InvalidArgument, "receipts[0].attempt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(tt.call())
			if st.Code() != tt.code {
				t.Fatalf("got %v, want code %v", st.Err(), tt.code)
			}
			var d *pb.ErrorDetail
			for _, x := range st.Details() {
				d, _ = x.(*pb.ErrorDetail)
			}
			if d == nil {
				t.Fatalf("no ErrorDetail in %v", st)
			}
			got := d.GetField()
			if tt.code == codes.ResourceExhausted {
				got = d.GetLimitWhat()
			}
			if got != tt.field {
				t.Errorf("detail names %q, want %q (%v)", got, tt.field, st.Message())
			}
		})
	}
	st, err := queues.Stats(ctx, &pb.StatsRequest{Path: q})
	if err != nil || st.GetStats().GetReady() != 0 {
		t.Errorf("after refused batches: %v, %v; want an empty queue", st, err)
	}
}

// TestBatchItemErrors: a failing receipt of AckBatch comes back as its own
// item with the code and detail a single Ack would have returned.
func TestBatchItemErrors(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	ctx := ctxFor(t)
	queues := pb.NewQueueServiceClient(cc)
	if _, err := n.newClient(t).CreateQueue(ctx, "t", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: "t/ns/q", Jobs: []*pb.EnqueueBatchItem{{Payload: []byte("a")}}}); err != nil {
		t.Fatal(err)
	}
	res, err := queues.ReserveBatch(ctx, &pb.ReserveBatchRequest{Path: "t/ns/q", Max: 5})
	if err != nil || len(res.GetJobs()) != 1 {
		t.Fatalf("ReserveBatch = %v, %v", res, err)
	}
	rc := res.GetJobs()[0].GetReceipt()
	stale := &pb.Receipt{JobId: rc.GetJobId(), Attempt: rc.GetAttempt() + 1}
	_, single := queues.Ack(ctx, &pb.AckRequest{Path: "t/ns/q", Receipt: stale})
	ack, err := queues.AckBatch(ctx, &pb.AckBatchRequest{Path: "t/ns/q", Receipts: []*pb.Receipt{stale, rc, {JobId: "nope", Attempt: 1}}})
	if err != nil || len(ack.GetResults()) != 3 {
		t.Fatalf("AckBatch = %v, %v", ack, err)
	}
	want := status.Convert(single)
	got := ack.GetResults()[0].GetError()
	if codes.Code(got.GetCode()) != want.Code() || got.GetDetail().GetCode() != pb.ErrorCode_ERROR_CODE_STALE_RECEIPT {
		t.Errorf("stale item: %v, want code %v and a STALE_RECEIPT detail like Ack's %v", got, want.Code(), want.Err())
	}
	if ack.GetResults()[1].GetError() != nil {
		t.Errorf("current receipt: %v, want acked", ack.GetResults()[1].GetError())
	}
	if e := ack.GetResults()[2].GetError(); codes.Code(e.GetCode()) != codes.NotFound || e.GetDetail().GetCode() != pb.ErrorCode_ERROR_CODE_NOT_FOUND {
		t.Errorf("unknown job: %v, want NotFound", e)
	}
}

// TestClusterForwardsBatches: the batch writes sent to a follower of a real
// three-node cluster are forwarded to the leader like every unary write.
func TestClusterForwardsBatches(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	f0 := dial(t, rpctest.Followers(nodes, leader)[0].Addr)
	ctx := ctxFor(t)
	if _, err := pb.NewResourceServiceClient(f0).CreateQueue(ctx, &pb.CreateQueueRequest{Tenant: "t", Namespace: "ns", Name: "q", RequestId: "c1"}); err != nil {
		t.Fatalf("CreateQueue through a follower: %v", err)
	}
	queues := pb.NewQueueServiceClient(f0)
	leaderHeader := func(what string, hdr metadata.MD) {
		t.Helper()
		if got := hdr.Get(rpc.MetadataLeader); len(got) != 1 || got[0] != leader.Addr {
			t.Errorf("%s: leader header %v, want %s", what, got, leader.Addr)
		}
	}
	var hdr metadata.MD
	enq, err := queues.EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: "t/ns/q", Jobs: []*pb.EnqueueBatchItem{{Payload: []byte("a")}, {Payload: []byte("b")}}, Options: &pb.CallOptions{RequestId: "e1"}}, grpc.Header(&hdr))
	if err != nil || len(enq.GetJobs()) != 2 {
		t.Fatalf("EnqueueBatch through a follower = %v, %v", enq, err)
	}
	leaderHeader("EnqueueBatch", hdr)
	// A retry with the same request ID through another node: the first answer.
	again, err := pb.NewQueueServiceClient(dial(t, leader.Addr)).EnqueueBatch(ctx, &pb.EnqueueBatchRequest{Path: "t/ns/q", Jobs: []*pb.EnqueueBatchItem{{Payload: []byte("a")}, {Payload: []byte("b")}}, Options: &pb.CallOptions{RequestId: "e1"}})
	if err != nil || again.GetJobs()[0].GetJobId() != enq.GetJobs()[0].GetJobId() || again.GetJobs()[1].GetSeq() != enq.GetJobs()[1].GetSeq() {
		t.Fatalf("retried EnqueueBatch on the leader = %v, %v; want %v", again, err, enq)
	}
	hdr = nil
	res, err := queues.ReserveBatch(ctx, &pb.ReserveBatchRequest{Path: "t/ns/q", Max: 10, Wait: durationpb.New(time.Second)}, grpc.Header(&hdr))
	if err != nil || len(res.GetJobs()) != 2 || string(res.GetJobs()[0].GetPayload()) != "a" {
		t.Fatalf("ReserveBatch through a follower = %v, %v", res, err)
	}
	leaderHeader("ReserveBatch", hdr)
	hdr = nil
	ack, err := queues.AckBatch(ctx, &pb.AckBatchRequest{Path: "t/ns/q", Receipts: []*pb.Receipt{res.GetJobs()[0].GetReceipt(), res.GetJobs()[1].GetReceipt()}}, grpc.Header(&hdr))
	if err != nil || len(ack.GetResults()) != 2 || ack.GetResults()[0].GetError() != nil || ack.GetResults()[1].GetError() != nil {
		t.Fatalf("AckBatch through a follower = %v, %v", ack, err)
	}
	leaderHeader("AckBatch", hdr)
	// Direct: NotLeader with the leader's address, as for the other writes.
	_, err = queues.AckBatch(metadata.AppendToOutgoingContext(ctx, rpc.MetadataDirect, "1"), &pb.AckBatchRequest{Path: "t/ns/q", Receipts: []*pb.Receipt{{JobId: "1", Attempt: 1}}})
	if d := notLeaderDetail(t, err); d.GetLeaderAddr() != leader.Addr {
		t.Errorf("direct AckBatch on a follower: detail %v, want leader at %s", d, leader.Addr)
	}
	stats, err := pb.NewQueueServiceClient(dial(t, leader.Addr)).Stats(ctx, &pb.StatsRequest{Path: "t/ns/q"})
	if err != nil || stats.GetStats().GetReady()+stats.GetStats().GetInFlight() != 0 {
		t.Errorf("Stats after forwarded batches = %v, %v; want an empty queue", stats, err)
	}
}
