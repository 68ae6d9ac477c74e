package rpc

import (
	"context"
	"strconv"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// The batched queue calls (flowmesh.QueueBatcher). They are writes like
// Enqueue and Reserve: request IDs pass through to the node, and a
// follower forwards them to the leader as it does every unary call.

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
	jobs, err := h.s.node.EnqueueBatch(ctx, req.GetPath(), items, opt)
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
	var jobs []flowmesh.Job
	if wait > 0 {
		jobs, err = h.s.node.ReserveBatchWait(ctx, req.GetPath(), int(req.GetMax()), vis, wait, opt)
	} else {
		jobs, err = h.s.node.ReserveBatch(ctx, req.GetPath(), int(req.GetMax()), vis, opt)
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
	errs, err := h.s.node.AckBatch(ctx, req.GetPath(), receipts, opt)
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
