package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// Enqueue adds a job. It carries a request ID and is retried with it, so a
// retry never enqueues the job twice.
func (c *Client) Enqueue(ctx context.Context, path string, payload []byte, opts flowmesh.QueueEnqueueOptions, callOpts ...flowmesh.CallOption) (string, uint64, error) {
	if err := checkPath(path); err != nil {
		return "", 0, err
	}
	if err := flowmesh.ValidateEnqueue(payload, opts); err != nil {
		return "", 0, err
	}
	if err := checkCallOptions(callOpts); err != nil {
		return "", 0, err
	}
	req := &pb.EnqueueRequest{Path: path, Payload: payload, Delay: pbconv.Duration(opts.Delay), DedupId: opts.DedupID, Options: writeOptions(callOpts)}
	var resp *pb.EnqueueResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).Enqueue(ctx, req)
		return err
	})
	if err != nil {
		return "", 0, err
	}
	return resp.GetJobId(), resp.GetSeq(), nil
}

// Reserve reserves the oldest ready job, or returns a nil job. Reserve is a
// write: it carries a request ID and a retry returns the job the first
// attempt reserved, never a second one.
func (c *Client) Reserve(ctx context.Context, path string, visibility time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	return c.reserve(ctx, path, visibility, 0, opts)
}

// ReserveWait is Reserve that waits up to wait for a job (a long poll on the
// node), 0..flowmesh.MaxReserveWait. Waits beyond flowmesh.MaxReservePoll are made of several long polls, each
// with its own request ID; with a caller-given request ID (WithRequestID)
// only one poll of at most MaxReservePoll is made, since repeats of that ID
// return its first result.
func (c *Client) ReserveWait(ctx context.Context, path string, visibility, wait time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	if err := flowmesh.ValidateReserveWait(wait); err != nil {
		return nil, err
	}
	if wait == 0 {
		return c.reserve(ctx, path, visibility, 0, opts)
	}
	given := flowmesh.ApplyCallOptions(opts).RequestID != ""
	deadline := time.Now().Add(wait)
	for {
		chunk := min(time.Until(deadline), flowmesh.MaxReservePoll)
		if chunk <= 0 {
			return nil, nil
		}
		job, err := c.reserve(ctx, path, visibility, chunk, opts)
		if err != nil || job != nil || given {
			return job, err
		}
	}
}

func (c *Client) reserve(ctx context.Context, path string, visibility, wait time.Duration, opts []flowmesh.CallOption) (*flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserve(visibility); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	if wait > 0 && c.cfg.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout+wait)
			defer cancel()
		}
	}
	ctx = withAttemptExtra(ctx, wait)
	req := &pb.ReserveRequest{Path: path, Visibility: pbconv.Duration(visibility), Wait: pbconv.Duration(wait), Options: writeOptions(opts)}
	var resp *pb.ReserveResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).Reserve(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromJob(resp.GetJob()), nil
}

// RemoveFromInFlight acknowledges the reservation named by jobID, the
// Job.ID a reservation returned (flowmesh.ReservationID); the server refuses
// it with ErrStaleReceipt once that reservation is no longer current.
func (c *Client) RemoveFromInFlight(ctx context.Context, path, jobID string, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateRemoveFromInFlight(jobID); err != nil {
		return err
	}
	if err := checkCallOptions(opts); err != nil {
		return err
	}
	req := &pb.RemoveFromInFlightRequest{Path: path, JobId: jobID, Options: writeOptions(opts)}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewQueueServiceClient(cc).RemoveFromInFlight(ctx, req)
		return err
	})
}

// Ack acknowledges (removes) the job of the receipt's reservation.
func (c *Client) Ack(ctx context.Context, path string, receipt flowmesh.Receipt, opts ...flowmesh.CallOption) error {
	r, err := c.receipt(path, receipt, flowmesh.ValidateAck(receipt), opts)
	if err != nil {
		return err
	}
	req := &pb.AckRequest{Path: path, Receipt: r, Options: writeOptions(opts)}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewQueueServiceClient(cc).Ack(ctx, req)
		return err
	})
}

// Nack releases the reservation; the job is ready again after delay.
func (c *Client) Nack(ctx context.Context, path string, receipt flowmesh.Receipt, delay time.Duration, opts ...flowmesh.CallOption) error {
	r, err := c.receipt(path, receipt, flowmesh.ValidateNack(receipt, delay), opts)
	if err != nil {
		return err
	}
	req := &pb.NackRequest{Path: path, Receipt: r, Delay: pbconv.Duration(delay), Options: writeOptions(opts)}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewQueueServiceClient(cc).Nack(ctx, req)
		return err
	})
}

// Touch extends the reservation to visibility from now.
func (c *Client) Touch(ctx context.Context, path string, receipt flowmesh.Receipt, visibility time.Duration, opts ...flowmesh.CallOption) error {
	r, err := c.receipt(path, receipt, flowmesh.ValidateTouch(receipt, visibility), opts)
	if err != nil {
		return err
	}
	req := &pb.TouchRequest{Path: path, Receipt: r, Visibility: pbconv.Duration(visibility), Options: writeOptions(opts)}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewQueueServiceClient(cc).Touch(ctx, req)
		return err
	})
}

// receipt converts r after the path, the operation's check (checked) and
// the call options.
func (c *Client) receipt(path string, r flowmesh.Receipt, checked error, opts []flowmesh.CallOption) (*pb.Receipt, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if checked != nil {
		return nil, checked
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	return &pb.Receipt{JobId: r.JobID, Attempt: int32(r.Attempt)}, nil
}

// Stats counts the queue's jobs.
func (c *Client) Stats(ctx context.Context, path string, opts ...flowmesh.CallOption) (flowmesh.QueueStats, error) {
	if err := checkPath(path); err != nil {
		return flowmesh.QueueStats{}, err
	}
	if err := checkCallOptions(opts); err != nil {
		return flowmesh.QueueStats{}, err
	}
	req := &pb.StatsRequest{Path: path, Options: readOptions(opts)}
	var resp *pb.StatsResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).Stats(ctx, req)
		return err
	})
	if err != nil {
		return flowmesh.QueueStats{}, err
	}
	return pbconv.FromQueueStats(resp.GetStats()), nil
}

// Purge removes every job that is not in flight and returns how many.
func (c *Client) Purge(ctx context.Context, path string, opts ...flowmesh.CallOption) (int, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := checkCallOptions(opts); err != nil {
		return 0, err
	}
	req := &pb.PurgeRequest{Path: path, Options: writeOptions(opts)}
	var resp *pb.PurgeResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).Purge(ctx, req)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(resp.GetPurged()), nil
}

// ListDead returns up to limit dead jobs (fewer when the response would be
// too large).
func (c *Client) ListDead(ctx context.Context, path string, limit int, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateListDead(limit); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	req := &pb.ListDeadRequest{Path: path, Limit: int32(limit), Options: readOptions(opts)}
	var resp *pb.ListDeadResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).ListDead(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromJobs(resp.GetJobs()), nil
}

// Redrive makes up to max dead jobs ready again (max <= 0: all).
func (c *Client) Redrive(ctx context.Context, path string, max int, opts ...flowmesh.CallOption) (int, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := checkCallOptions(opts); err != nil {
		return 0, err
	}
	req := &pb.RedriveRequest{Path: path, Max: clamp32(max), Options: writeOptions(opts)}
	var resp *pb.RedriveResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).Redrive(ctx, req)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(resp.GetRedriven()), nil
}

var _ flowmesh.QueueBatcher = (*Client)(nil)

// EnqueueBatch adds up to flowmesh.MaxQueueBatch jobs in one call (one
// replicated command) and returns one result per job, in order. Like
// Enqueue it carries a request ID and is retried with it; each item's
// DedupID is deduplicated as Enqueue's would be.
func (c *Client) EnqueueBatch(ctx context.Context, path string, jobs []flowmesh.EnqueueItem, opts ...flowmesh.CallOption) ([]flowmesh.EnqueuedJob, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateEnqueueBatch(jobs); err != nil {
		return nil, err
	}
	items := make([]*pb.EnqueueBatchItem, len(jobs))
	for i, j := range jobs {
		items[i] = &pb.EnqueueBatchItem{Payload: j.Payload, Delay: pbconv.Duration(j.Delay), DedupId: j.DedupID}
	}
	req := &pb.EnqueueBatchRequest{Path: path, Jobs: items, Options: writeOptions(opts)}
	var resp *pb.EnqueueBatchResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).EnqueueBatch(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.GetJobs()) != len(jobs) {
		return nil, fmt.Errorf("flowmesh: EnqueueBatch: node answered %d results for %d jobs", len(resp.GetJobs()), len(jobs))
	}
	return pbconv.FromEnqueuedJobs(resp.GetJobs()), nil
}

// ReserveBatch reserves up to max of the oldest ready jobs in one call; see
// flowmesh.QueueBatcher. Like Reserve it is a write with a request ID, and a
// retry returns the jobs the first attempt reserved.
func (c *Client) ReserveBatch(ctx context.Context, path string, max int, visibility time.Duration, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	return c.reserveBatch(ctx, path, max, visibility, 0, opts)
}

// ReserveBatchWait is ReserveBatch that waits up to wait for at least one
// job (a long poll on the node), in polls of at most
// flowmesh.MaxReservePoll as ReserveWait.
func (c *Client) ReserveBatchWait(ctx context.Context, path string, max int, visibility, wait time.Duration, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	if err := flowmesh.ValidateReserveWait(wait); err != nil {
		return nil, err
	}
	if wait == 0 {
		return c.reserveBatch(ctx, path, max, visibility, 0, opts)
	}
	given := flowmesh.ApplyCallOptions(opts).RequestID != ""
	deadline := time.Now().Add(wait)
	for {
		chunk := min(time.Until(deadline), flowmesh.MaxReservePoll)
		if chunk <= 0 {
			return []flowmesh.Job{}, nil
		}
		jobs, err := c.reserveBatch(ctx, path, max, visibility, chunk, opts)
		if err != nil || len(jobs) > 0 || given {
			return jobs, err
		}
	}
}

func (c *Client) reserveBatch(ctx context.Context, path string, max int, visibility, wait time.Duration, opts []flowmesh.CallOption) ([]flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserveBatch(max, visibility); err != nil {
		return nil, err
	}
	if wait > 0 && c.cfg.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout+wait)
			defer cancel()
		}
	}
	ctx = withAttemptExtra(ctx, wait)
	req := &pb.ReserveBatchRequest{Path: path, Max: int32(max), Visibility: pbconv.Duration(visibility), Wait: pbconv.Duration(wait), Options: writeOptions(opts)}
	var resp *pb.ReserveBatchResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).ReserveBatch(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromJobs(resp.GetJobs()), nil
}

// AckBatch acknowledges up to flowmesh.MaxQueueBatch receipts in one call.
// It returns one error per receipt (nil: acked), the same root-package error
// Ack would return for it; a retry with the same request ID returns the
// first answer.
func (c *Client) AckBatch(ctx context.Context, path string, receipts []flowmesh.Receipt, opts ...flowmesh.CallOption) ([]error, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateAckBatch(receipts); err != nil {
		return nil, err
	}
	rs := make([]*pb.Receipt, len(receipts))
	for i, r := range receipts {
		rs[i] = &pb.Receipt{JobId: r.JobID, Attempt: int32(r.Attempt)}
	}
	req := &pb.AckBatchRequest{Path: path, Receipts: rs, Options: writeOptions(opts)}
	var resp *pb.AckBatchResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewQueueServiceClient(cc).AckBatch(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(resp.GetResults()) != len(receipts) {
		return nil, fmt.Errorf("flowmesh: AckBatch: node answered %d results for %d receipts", len(resp.GetResults()), len(receipts))
	}
	out := make([]error, len(receipts))
	for i, r := range resp.GetResults() {
		out[i] = fromItemError(r.GetError())
	}
	return out, nil
}

// fromItemError maps a batch item's error to the root package's, as
// fromStatus maps a call's.
func fromItemError(e *pb.ItemError) error {
	if e == nil {
		return nil
	}
	code := codes.Code(e.GetCode())
	if code == codes.OK {
		code = codes.Unknown
	}
	st := status.New(code, e.GetMessage())
	if e.GetDetail() != nil {
		if ws, err := st.WithDetails(e.GetDetail()); err == nil {
			st = ws
		}
	}
	return fromStatus(st.Err())
}
