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

func itemField(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}

func checkBatchCount(list string, n int) error {
	if n == 0 {
		return flowmesh.Invalid(list, "must not be empty")
	}
	if n > flowmesh.MaxQueueBatch {
		return &flowmesh.LimitError{What: list + " per batch", Limit: flowmesh.MaxQueueBatch, Got: int64(n)}
	}
	return nil
}

func (h *queueService) EnqueueBatch(ctx context.Context, req *pb.EnqueueBatchRequest) (*pb.EnqueueBatchResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := checkBatchCount("jobs", len(req.GetJobs())); err != nil {
		return nil, err
	}
	items := make([]flowmesh.EnqueueItem, len(req.GetJobs()))
	var total int64
	for i, it := range req.GetJobs() {
		if err := checkPayload(itemField("jobs", i, "payload"), len(it.GetPayload())); err != nil {
			return nil, err
		}
		delay, err := duration(itemField("jobs", i, "delay"), it.GetDelay(), flowmesh.MaxDelay)
		if err != nil {
			return nil, err
		}
		if n := len(it.GetDedupId()); n > flowmesh.MaxRequestIDLen {
			return nil, flowmesh.Invalid(itemField("jobs", i, "dedup_id"), "is %d bytes, limit %d", n, flowmesh.MaxRequestIDLen)
		}
		total += int64(len(it.GetPayload()))
		items[i] = flowmesh.EnqueueItem{Payload: it.GetPayload(), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: delay, DedupID: it.GetDedupId()}}
	}
	if total > flowmesh.MaxBatchBytes {
		return nil, &flowmesh.LimitError{What: "batch bytes", Limit: flowmesh.MaxBatchBytes, Got: total}
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
	if m := req.GetMax(); m < 1 || m > flowmesh.MaxQueueBatch {
		return nil, flowmesh.Invalid("max", "%d is outside 1..%d", m, flowmesh.MaxQueueBatch)
	}
	vis, err := duration("visibility", req.GetVisibility(), flowmesh.MaxVisibility)
	if err != nil {
		return nil, err
	}
	wait, err := duration("wait", req.GetWait(), flowmesh.MaxReservePoll)
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
	if err := checkBatchCount("receipts", len(req.GetReceipts())); err != nil {
		return nil, err
	}
	receipts := make([]flowmesh.Receipt, len(req.GetReceipts()))
	for i, r := range req.GetReceipts() {
		if r.GetJobId() == "" {
			return nil, flowmesh.Invalid(itemField("receipts", i, "job_id"), "must not be empty")
		}
		if n := len(r.GetJobId()); n > flowmesh.MaxRequestIDLen {
			return nil, flowmesh.Invalid(itemField("receipts", i, "job_id"), "is %d bytes, limit %d", n, flowmesh.MaxRequestIDLen)
		}
		if r.GetAttempt() <= 0 {
			return nil, flowmesh.Invalid(itemField("receipts", i, "attempt"), "%d is not positive", r.GetAttempt())
		}
		receipts[i] = pbconv.FromReceipt(r)
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
