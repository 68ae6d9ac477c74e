package client

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// maxReserveWait is the longest long poll of one Reserve call the node
// accepts (rpc.MaxReserveWait); ReserveWait loops for longer waits.
const maxReserveWait = 5 * time.Minute

// Enqueue adds a job. It carries a request ID and is retried with it, so a
// retry never enqueues the job twice.
func (c *Client) Enqueue(ctx context.Context, path string, payload []byte, opts flowmesh.QueueEnqueueOptions, callOpts ...flowmesh.CallOption) (string, uint64, error) {
	if err := checkPath(path); err != nil {
		return "", 0, err
	}
	if err := checkUTF8("dedup_id", opts.DedupID); err != nil {
		return "", 0, err
	}
	if err := checkPayload("payload", len(payload)); err != nil {
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
// node). Waits beyond five minutes are made of several long polls, each
// with its own request ID; with a caller-given request ID (WithRequestID)
// only one poll of at most five minutes is made, since repeats of that ID
// return its first result.
func (c *Client) ReserveWait(ctx context.Context, path string, visibility, wait time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	if wait <= 0 {
		return c.reserve(ctx, path, visibility, 0, opts)
	}
	given := flowmesh.ApplyCallOptions(opts).RequestID != ""
	deadline := time.Now().Add(wait)
	for {
		chunk := min(time.Until(deadline), maxReserveWait)
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

// RemoveFromInFlight acknowledges the current reservation of jobID.
func (c *Client) RemoveFromInFlight(ctx context.Context, path, jobID string, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := checkUTF8("job_id", jobID); err != nil {
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
	r, err := c.receipt(path, receipt, opts)
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
	r, err := c.receipt(path, receipt, opts)
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
	r, err := c.receipt(path, receipt, opts)
	if err != nil {
		return err
	}
	req := &pb.TouchRequest{Path: path, Receipt: r, Visibility: pbconv.Duration(visibility), Options: writeOptions(opts)}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewQueueServiceClient(cc).Touch(ctx, req)
		return err
	})
}

func (c *Client) receipt(path string, r flowmesh.Receipt, opts []flowmesh.CallOption) (*pb.Receipt, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := checkUTF8("receipt", r.JobID); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	a, err := int32Of("receipt", r.Attempt)
	if err != nil {
		return nil, err
	}
	return &pb.Receipt{JobId: r.JobID, Attempt: a}, nil
}

// Stats counts the queue's jobs.
func (c *Client) Stats(ctx context.Context, path string, opts ...flowmesh.CallOption) (flowmesh.QueueStats, error) {
	if err := checkPath(path); err != nil {
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
	req := &pb.ListDeadRequest{Path: path, Limit: clamp32(limit), Options: readOptions(opts)}
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
