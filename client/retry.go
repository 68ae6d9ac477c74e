package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// callKind says when a failed call may be sent again.
type callKind int

const (
	// read changes nothing: retried on any Unavailable.
	read callKind = iota
	// idempotent is a write carrying a request ID (every write of the
	// stream, queue and KV APIs): the node's FSM returns the first result
	// for a repeat, so it is retried on any Unavailable with the same ID.
	idempotent
	// unsafe is a write that cannot carry a request ID (none does now:
	// resource creates and deletes carry one too): retried only on
	// NotLeader and NoLeader, which a follower answers without proposing.
	unsafe
)

// retryable reports whether a call of kind that failed with st may be sent
// again, and the leader's address when the node named one.
func retryable(kind callKind, st *status.Status) (ok bool, leaderAddr string) {
	if st.Code() != codes.Unavailable {
		return false, ""
	}
	d := detailOf(st)
	switch d.GetCode() {
	case pb.ErrorCode_ERROR_CODE_NOT_LEADER, pb.ErrorCode_ERROR_CODE_NO_LEADER:
		return true, d.GetLeaderAddr()
	}
	return kind != unsafe, ""
}

// invoke runs call against the current target until it succeeds, fails for
// good, ctx ends or the retries are spent. It follows leader hints at once
// and otherwise moves to the next endpoint after a jittered exponential
// backoff. The error is already mapped to the root package's errors.
func (c *Client) invoke(ctx context.Context, kind callKind, call func(context.Context, *grpc.ClientConn) error) error {
	if c.cfg.RequestTimeout > 0 {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
			defer cancel()
		}
	}
	for attempt := 0; ; attempt++ {
		addr, cc, err := c.pick()
		if err != nil {
			return err
		}
		if kind == unsafe {
			// An unsafe call is sent only over a ready connection, so an
			// endpoint that is down is skipped before anything was sent.
			err = c.awaitReady(ctx, cc)
		}
		attemptExpired := false
		if err == nil {
			attemptExpired, err = c.attempt(ctx, kind, cc, call)
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctxError(ctx, err)
		}
		st, _ := status.FromError(err)
		ok, leader := retryable(kind, st)
		if errors.Is(err, errNotReady) || attemptExpired {
			ok = true // nothing sent, or a retry-safe call whose node hung
		}
		if !ok || attempt >= c.cfg.MaxRetries {
			return fromStatus(err)
		}
		if leader != "" && leader != addr && !c.cfg.Pinned {
			c.redirect(leader)
			if attempt == 0 {
				continue // a fresh hint: go straight to the leader
			}
		} else {
			c.rotate(addr)
		}
		if err := c.sleep(ctx, attempt); err != nil {
			return ctxError(ctx, st.Err())
		}
	}
}

// attemptExtraKey carries extra time for one attempt (a long poll's wait).
type attemptExtraKey struct{}

// withAttemptExtra gives every attempt of the call made with ctx d more
// than AttemptTimeout.
func withAttemptExtra(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, attemptExtraKey{}, d)
}

// attempt makes one try of call, bounded by AttemptTimeout when the call may
// be retried; expired reports that this bound (not ctx) ended it.
func (c *Client) attempt(ctx context.Context, kind callKind, cc *grpc.ClientConn, call func(context.Context, *grpc.ClientConn) error) (expired bool, err error) {
	if c.cfg.AttemptTimeout <= 0 || kind == unsafe {
		return false, call(ctx, cc)
	}
	extra, _ := ctx.Value(attemptExtraKey{}).(time.Duration)
	bound := time.Now().Add(c.cfg.AttemptTimeout + extra)
	if d, ok := ctx.Deadline(); ok && !d.After(bound) {
		// ctx ends first: the attempt needs no bound (and no context and
		// timer of its own); only ctx can end it, so it never "expired".
		return false, call(ctx, cc)
	}
	actx, cancel := context.WithDeadline(ctx, bound)
	defer cancel()
	err = call(actx, cc)
	if err == nil || ctx.Err() != nil {
		return false, err
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return true, err
	}
	// The node was sent the bound as the call's deadline: when its handler's
	// context expires it resets the stream (Canceled), and that can arrive
	// just before this side's timer fires. That, too, is the bound.
	code := status.Code(err)
	return (code == codes.Canceled || code == codes.DeadlineExceeded) && time.Until(bound) < time.Millisecond, err
}

// errNotReady reports a connection that did not become ready: nothing was sent.
var errNotReady = status.Error(codes.Unavailable, "client: no connection to the node")

// awaitReady waits up to DialTimeout for cc to be ready to send.
func (c *Client) awaitReady(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.Idle:
			cc.Connect()
		case connectivity.TransientFailure:
			return errNotReady // the last attempt to connect failed
		case connectivity.Shutdown:
			return ErrClosed
		}
		if !cc.WaitForStateChange(ctx, s) {
			return errNotReady
		}
	}
}

// backoff returns the wait before retry attempt+1: exponential from
// BackoffBase, capped at BackoffMax, jittered to [d/2, d].
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.BackoffBase
	for i := 0; i < attempt && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	return d/2 + mrand.N(d/2+1)
}

func (c *Client) sleep(ctx context.Context, attempt int) error {
	t := time.NewTimer(c.backoff(attempt))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ctxError is the error of a call whose ctx ended: the context's error,
// carrying the last failure's text for diagnosis.
func ctxError(ctx context.Context, last error) error {
	if last == nil {
		return ctx.Err()
	}
	last = fromStatus(last)
	if errors.Is(last, context.DeadlineExceeded) || errors.Is(last, context.Canceled) {
		return ctx.Err()
	}
	return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
}

// writeOptions applies opts and gives the write a request ID when the
// caller gave none, so retries are deduplicated by the node.
func writeOptions(opts []flowmesh.CallOption) *pb.CallOptions {
	o := flowmesh.ApplyCallOptions(opts)
	if o.RequestID == "" {
		o.RequestID = newRequestID()
	}
	return pbconv.CallOptions(o)
}

// checkedWriteOptions is checkCallOptions and writeOptions in one pass
// over opts.
func checkedWriteOptions(opts []flowmesh.CallOption) (*pb.CallOptions, error) {
	o := flowmesh.ApplyCallOptions(opts)
	if err := flowmesh.ValidateCallOptions(o); err != nil {
		return nil, err
	}
	if o.RequestID == "" {
		o.RequestID = newRequestID()
	}
	return pbconv.CallOptions(o), nil
}

// staticMethod is the call option the generated clients add to every call
// (the method is one the service registers). It is shared: its length is
// its capacity, so an append to it copies.
var staticMethod = []grpc.CallOption{grpc.StaticMethod()}

// unary calls method on cc as the generated client does, minus the client
// value and the option slice it allocates per call.
func unary(ctx context.Context, cc *grpc.ClientConn, method string, req, resp any) error {
	return cc.Invoke(ctx, method, req, resp, staticMethod...)
}

// readOptions applies opts for a read.
func readOptions(opts []flowmesh.CallOption) *pb.CallOptions {
	return pbconv.CallOptions(flowmesh.ApplyCallOptions(opts))
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go >= 1.24)
	return hex.EncodeToString(b[:])
}
