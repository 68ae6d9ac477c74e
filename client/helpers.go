package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
)

// ConsumeOptions configure Consume. Zero values take the defaults.
type ConsumeOptions struct {
	// CommitEvery commits the group's offset after this many messages
	// (default 100).
	CommitEvery int
	// CommitInterval commits at least this often while messages arrive
	// (default 1s).
	CommitInterval time.Duration
}

// commitTimeout bounds the final commit Consume makes as it returns, also
// when ctx has ended.
const commitTimeout = 5 * time.Second

// Consume reads a partition for consumer group group: from the group's
// committed offset (from the partition's earliest retained offset when the
// group has none, or when retention removed the committed one), it calls
// fn for each message in order and commits the offset after the last
// message fn accepted, every CommitEvery messages or CommitInterval and
// when Consume returns. Delivery is at least once: after a crash, fn sees
// again what came after the last commit. fn's error ends Consume with it,
// and the failing message is not committed; ctx's end ends Consume with
// ctx.Err().
func (c *Client) Consume(ctx context.Context, path, group string, partition int, fn func(flowmesh.Message) error, opts ConsumeOptions) error {
	if opts.CommitEvery <= 0 {
		opts.CommitEvery = 100
	}
	if opts.CommitInterval <= 0 {
		opts.CommitInterval = time.Second
	}
	start, err := c.FetchOffset(ctx, path, group, partition)
	if errors.Is(err, flowmesh.ErrNotFound) {
		start, err = 0, nil
	}
	if err != nil {
		return err
	}
	var (
		next, committed = start, start
		pending         int
		lastCommit      = time.Now()
	)
	commit := func(ctx context.Context) error {
		if next == committed {
			return nil
		}
		if err := c.CommitOffset(ctx, path, group, partition, next); err != nil {
			return err
		}
		committed, pending, lastCommit = next, 0, time.Now()
		return nil
	}
	for {
		err = c.Subscribe(ctx, path, partition, next, func(m flowmesh.Message) error {
			if err := fn(m); err != nil {
				return err
			}
			next, pending = m.Offset+1, pending+1
			if pending >= opts.CommitEvery || time.Since(lastCommit) >= opts.CommitInterval {
				return commit(ctx)
			}
			return nil
		})
		var oor *flowmesh.OffsetOutOfRangeError
		if errors.As(err, &oor) && oor.Earliest > next {
			// Retention removed what the group had not read: go on from
			// the oldest message left.
			next = oor.Earliest
			continue
		}
		break
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	return errors.Join(err, commit(cctx))
}

// WorkerOptions configure Work. Zero values take the defaults.
type WorkerOptions struct {
	// Visibility is each reservation's length (default 30s); Work extends
	// it every Visibility/3 while the handler runs.
	Visibility time.Duration
	// Concurrency is how many handlers run at once (default 1).
	Concurrency int
	// Wait is each reservation's long poll (default 20s, at most
	// flowmesh.MaxReserveWait).
	Wait time.Duration
	// RetryDelay is the nack delay of a job whose handler failed (default
	// 0: ready again at once; the queue's max attempts still apply).
	RetryDelay time.Duration
	// OnError, when set, hears about a job the worker could not settle:
	// an ack or nack that failed, or a handler cancelled because its
	// reservation went stale.
	OnError func(job *flowmesh.Job, err error)
}

// settleTimeout bounds an ack or nack after the handler returned, also
// when ctx has ended.
const settleTimeout = 10 * time.Second

// Work reserves jobs from the queue at path and calls handle for each, up
// to Concurrency at once, until ctx ends; then it waits for the running
// handlers and returns ctx.Err(). While a handler runs, Work extends its
// reservation (Touch) every Visibility/3, so a slow handler keeps its job;
// if an extension is refused because the reservation went stale (the job
// was handed to another worker), the handler's context is cancelled. A nil
// return acks the job with its receipt, an error nacks it. A reservation
// error other than ctx's end stops Work and is returned.
func (c *Client) Work(ctx context.Context, path string, handle func(ctx context.Context, job *flowmesh.Job) error, opts WorkerOptions) error {
	if opts.Visibility <= 0 {
		opts.Visibility = 30 * time.Second
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 1
	}
	if opts.Wait <= 0 {
		opts.Wait = min(20*time.Second, flowmesh.MaxReserveWait)
	}
	if err := flowmesh.ValidateReserveWait(opts.Wait); err != nil {
		return err
	}
	report := func(job *flowmesh.Job, err error) {
		if opts.OnError != nil {
			opts.OnError(job, err)
		}
	}
	slots := make(chan struct{}, opts.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		job, err := c.ReserveWait(ctx, path, opts.Visibility, opts.Wait)
		if err != nil || job == nil {
			<-slots
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return err
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			c.runJob(ctx, path, job, handle, opts, report)
		}()
	}
}

// runJob runs handle for one reserved job, extending the reservation while
// it runs, then settles the job.
func (c *Client) runJob(ctx context.Context, path string, job *flowmesh.Job, handle func(context.Context, *flowmesh.Job) error, opts WorkerOptions, report func(*flowmesh.Job, error)) {
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	var touching sync.WaitGroup
	touching.Add(1)
	go func() {
		defer touching.Done()
		t := time.NewTicker(opts.Visibility / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-hctx.Done():
				return
			case <-t.C:
			}
			err := c.Touch(hctx, path, job.Receipt, opts.Visibility)
			if errors.Is(err, flowmesh.ErrStaleReceipt) || errors.Is(err, flowmesh.ErrNotFound) {
				cancel(err)
				report(job, err)
				return
			}
			// Other errors (a failover) are retried at the next tick,
			// well before the reservation ends.
		}
	}()
	herr := handle(hctx, job)
	close(done)
	touching.Wait()
	if context.Cause(hctx) != nil && ctx.Err() == nil {
		return // the reservation went stale: the job is someone else's now
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer scancel()
	var err error
	if herr == nil {
		err = c.Ack(sctx, path, job.Receipt)
	} else {
		err = c.Nack(sctx, path, job.Receipt, opts.RetryDelay)
	}
	if err != nil {
		report(job, err)
	}
}
