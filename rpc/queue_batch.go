package rpc

import (
	"context"
	"strconv"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// The batched queue calls (flowmesh.QueueBatcher). They are writes like
// Enqueue and Reserve: request IDs pass through to the backend, and a
// follower forwards them to the leader as it does every unary call.

// queueBatcher returns the backend's QueueBatcher: the backend itself, or
// the QueueManager of a Parts.
func (s *Server) queueBatcher() (flowmesh.QueueBatcher, error) {
	if b, ok := s.backend.(flowmesh.QueueBatcher); ok {
		return b, nil
	}
	var qm flowmesh.QueueManager
	switch p := s.backend.(type) {
	case Parts:
		qm = p.QueueManager
	case *Parts:
		qm = p.QueueManager
	}
	if b, ok := qm.(flowmesh.QueueBatcher); ok {
		return b, nil
	}
	return nil, status.Error(codes.Unimplemented, "flowmesh: this node's queue backend has no batch operations")
}

// itemField names field of item i of list, as flowmesh's batch checks do.
func itemField(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

func (h *queueService) EnqueueBatch(ctx context.Context, req *pb.EnqueueBatchRequest) (*pb.EnqueueBatchResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if n := len(req.GetJobs()); n > flowmesh.MaxQueueBatch {
		return nil, &flowmesh.LimitError{What: "jobs per batch", Limit: flowmesh.MaxQueueBatch, Got: int64(n)} // before converting them all
	}
	items := make([]flowmesh.EnqueueItem, len(req.GetJobs()))
	for i, it := range req.GetJobs() {
		delay, err := duration(itemField("jobs", i, "delay"), it.GetDelay())
		if err != nil {
			return nil, err
		}
		items[i] = flowmesh.EnqueueItem{Payload: it.GetPayload(), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: delay, DedupID: it.GetDedupId()}}
	}
	if err := flowmesh.ValidateEnqueueBatch(items); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	b, err := h.s.queueBatcher()
	if err != nil {
		return nil, err
	}
	jobs, err := b.EnqueueBatch(ctx, req.GetPath(), items, opt)
	if err != nil {
		return nil, err
	}
	return &pb.EnqueueBatchResponse{Jobs: pbconv.EnqueuedJobs(jobs)}, nil
}

func (h *queueService) ReserveBatch(ctx context.Context, req *pb.ReserveBatchRequest) (*pb.ReserveBatchResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	vis, err := duration("visibility", req.GetVisibility())
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserveBatch(int(req.GetMax()), vis); err != nil {
		return nil, err
	}
	wait, err := pollWait(req.GetWait())
	if err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	b, err := h.s.queueBatcher()
	if err != nil {
		return nil, err
	}
	var jobs []flowmesh.Job
	if wait > 0 {
		jobs, err = b.ReserveBatchWait(ctx, req.GetPath(), int(req.GetMax()), vis, wait, opt)
	} else {
		jobs, err = b.ReserveBatch(ctx, req.GetPath(), int(req.GetMax()), vis, opt)
	}
	if err != nil {
		return nil, err
	}
	return &pb.ReserveBatchResponse{Jobs: pbconv.Jobs(jobs)}, nil
}

func (h *queueService) AckBatch(ctx context.Context, req *pb.AckBatchRequest) (*pb.AckBatchResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if n := len(req.GetReceipts()); n > flowmesh.MaxQueueBatch {
		return nil, &flowmesh.LimitError{What: "receipts per batch", Limit: flowmesh.MaxQueueBatch, Got: int64(n)} // before converting them all
	}
	receipts := make([]flowmesh.Receipt, len(req.GetReceipts()))
	for i, r := range req.GetReceipts() {
		receipts[i] = pbconv.FromReceipt(r)
	}
	if err := flowmesh.ValidateAckBatch(receipts); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	b, err := h.s.queueBatcher()
	if err != nil {
		return nil, err
	}
	errs, err := b.AckBatch(ctx, req.GetPath(), receipts, opt)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.AckResult, len(errs))
	for i, e := range errs {
		out[i] = &pb.AckResult{Error: itemError(e)}
	}
	return &pb.AckBatchResponse{Results: out}, nil
}

// itemError is the status a single call failing with err would return, as
// a batch item's error; nil for nil.
func itemError(err error) *pb.ItemError {
	if err == nil {
		return nil
	}
	code, d := classify(err)
	return &pb.ItemError{Code: int32(code), Message: err.Error(), Detail: d}
}
