package client

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// callbackError carries the error of a caller's callback out of a stream.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

// follow runs a server stream (Subscribe, Watch) until ctx ends, the
// callback fails, or the node refuses it. run opens the stream on cc and
// receives until it fails; it calls progress after each delivery and keeps
// its own resume position. A stream that breaks with Unavailable (or ends
// without a status) is reopened at the leader hint or the next endpoint
// after a backoff; one the node cut off as too slow
// (*flowmesh.SlowConsumerError) is reopened at the same node. MaxRetries
// consecutive failures without a delivery end it.
func (c *Client) follow(ctx context.Context, run func(ctx context.Context, cc *grpc.ClientConn, progress func()) error) error {
	failures := 0
	for {
		addr, cc, err := c.pick()
		if err != nil {
			return err
		}
		sctx, cancel := context.WithCancel(ctx)
		err = run(sctx, cc, func() { failures = 0 })
		cancel()
		if cb, ok := err.(*callbackError); ok {
			return cb.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		st := status.Convert(err)
		if errors.Is(err, io.EOF) {
			st = status.New(codes.Unavailable, "stream ended by the node")
		}
		ok, leader := retryable(read, st)
		slow := detailOf(st).GetCode() == pb.ErrorCode_ERROR_CODE_SLOW_CONSUMER
		if !ok && !slow || failures >= c.cfg.MaxRetries {
			return fromStatus(st.Err())
		}
		switch {
		case slow:
			// Cut off for not keeping up: the same node serves the
			// rest, from the resume position run keeps.
		case leader != "" && leader != addr && !c.cfg.Pinned:
			c.redirect(leader)
		default:
			c.rotate(addr)
		}
		if err := c.sleep(ctx, failures); err != nil {
			return err
		}
		failures++
	}
}
