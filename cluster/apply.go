package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/logentry"
)

// applyRequest is one Apply call waiting for its result.
type applyRequest struct {
	cmd    []byte
	done   chan applyResult // buffered: the responder never blocks
	queued time.Time        // when Apply handed it to the batcher
}

type applyResult struct {
	resp any
	err  error
	sent time.Time // when the responder answered
	// index and batch are the log entry's index and how many commands it
	// carried (0 when the entry did not commit): span attributes.
	index uint64
	batch int
}

// inflightEntry is a proposed log entry and the callers whose commands it
// carries, in order.
type inflightEntry struct {
	future   raft.ApplyFuture
	reqs     []*applyRequest
	proposed time.Time // when raft.Apply was called
}

// Stages of a write, reported to go-metrics (package internal/metrics
// exports them as flowmesh_write_<stage>_seconds histograms); with raft's
// own timings (flowmesh_raft_leader_dispatch_log_seconds: the leader's log
// store; flowmesh_raft_replication_append_entries_rpc_seconds;
// flowmesh_raft_commit_time_seconds) they split one write's latency:
//
//	batch_wait   Apply queued it → the batcher proposed its entry
//	commit       proposed → raft committed it and the FSM applied it
//	             (leader store, replication, follower stores, FSM queue)
//	fsm_apply    the FSM's ApplyBatch (per raft batch, in cluster/fsm.go)
//	respond      the result handed over → the caller woke up
//	total        Apply called → Apply returned
var (
	stageBatchWait = []string{"write", "batchWait"}
	stageCommit    = []string{"write", "commit"}
	stageFSMApply  = []string{"write", "fsmApply"}
	stageRespond   = []string{"write", "respond"}
	stageTotal     = []string{"write", "total"}
)

// Apply proposes cmd and returns the FSM's result for it: the element for
// this command of the []any the FSM returned for the log entry, or, when
// that element is an error, the error.
//
// Concurrent calls share log entries (group commit). On a node that is not
// the leader Apply returns a *flowmesh.NotLeaderError. When ctx ends first
// Apply returns ctx.Err(), and likewise ErrShutdown or a NotLeaderError
// after leadership was lost mid-flight: in all three cases the command may
// still commit, so a retry must carry the same request ID.
func (c *Cluster) Apply(ctx context.Context, cmd []byte) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n := commandSize(cmd); n > c.cfg.BatchMaxBytes {
		return nil, &flowmesh.LimitError{What: "encoded command size", Limit: int64(c.cfg.BatchMaxBytes), Got: int64(n)}
	}
	if !c.IsLeader() {
		return nil, c.notLeader()
	}
	// The raft.apply span is a child of the caller's span (the gRPC
	// server span when tracing is on) and comes from that span's
	// provider. Without a recording span in ctx (tracing off, or this
	// trace not sampled) there is none: no allocation on the write path.
	var span trace.Span = noop.Span{}
	if parent := trace.SpanFromContext(ctx); parent.IsRecording() {
		ctx, span = parent.TracerProvider().Tracer(tracerName).Start(ctx, "raft.apply",
			trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attribute.Int("flowmesh.command.bytes", len(cmd))))
		defer span.End()
	}
	req := &applyRequest{cmd: cmd, done: make(chan applyResult, 1), queued: time.Now()}
	select {
	case c.applyCh <- req:
	case <-ctx.Done():
		return nil, endApplySpan(span, ctx.Err())
	case <-c.closing:
		return nil, endApplySpan(span, ErrShutdown)
	}
	select {
	case r := <-req.done:
		if !r.sent.IsZero() {
			metrics.MeasureSince(stageRespond, r.sent)
			metrics.MeasureSince(stageTotal, req.queued)
		}
		if r.index != 0 && span.IsRecording() {
			span.SetAttributes(attribute.Int64("raft.log.index", int64(r.index)), attribute.Int("raft.batch.commands", r.batch))
		}
		return r.resp, endApplySpan(span, r.err)
	case <-ctx.Done():
		return nil, endApplySpan(span, ctx.Err())
	case <-c.closing:
		return nil, endApplySpan(span, ErrShutdown)
	}
}

// tracerName is the instrumentation scope of the raft.apply span.
const tracerName = "github.com/flowmesh/flowmesh/cluster"

// endApplySpan records err (if any) on the raft.apply span and returns it.
// A command the FSM rejected (not found, conflict) committed all the same,
// so only errors of the proposal itself mark the span failed.
func endApplySpan(span trace.Span, err error) error {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		if errors.Is(err, ErrShutdown) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			span.SetStatus(codes.Error, err.Error())
		} else if _, ok := errors.AsType[*flowmesh.NotLeaderError](err); ok {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	return err
}

// partialInflight is how many entries may be in flight before the batcher
// holds back an entry that is not full. With one entry in flight, commands
// gather into the next entry until that entry completes or the batch fills
// (full batches pipeline up to MaxInflightEntries). When idle, a lone
// command is proposed at once, so a single client's latency is unchanged.
//
// One, not two: every entry costs a bolt commit (and fdatasync), an
// AppendEntries and a follower bolt commit on every replica whatever it
// carries, and the cluster is CPU bound under load. With two partial entries
// in flight the second one left with whatever had arrived meanwhile; holding
// it until the first completes carries ~26 commands per entry instead of ~16
// at 64 clients (kv-put), for fewer commits per command (BENCHMARKS.md,
// "group commit and GC").
const partialInflight = 1

// batch is a log entry under construction.
type batch struct {
	reqs []*applyRequest
	size int // encoded bytes of the commands
}

// add appends r unless it would exceed maxBytes.
func (b *batch) add(r *applyRequest, maxBytes int) bool {
	n := commandSize(r.cmd)
	if len(b.reqs) > 0 && b.size+n > maxBytes {
		return false
	}
	b.reqs = append(b.reqs, r)
	b.size += n
	return true
}

func (b *batch) fail(err error) {
	for _, r := range b.reqs {
		r.done <- applyResult{err: err}
	}
}

// runBatcher coalesces queued commands into log entries and proposes them
// without waiting for earlier entries to commit, keeping at most
// MaxInflightEntries in flight. Stamps never decrease: each is at least the
// previous stamp and above the FSM's last applied stamp, whatever the clock
// says.
func (c *Cluster) runBatcher() {
	defer close(c.inflight)
	var carry *applyRequest
	var lastStamp int64
	for {
		b := batch{reqs: make([]*applyRequest, 0, 16)}
		if carry != nil {
			b.add(carry, c.cfg.BatchMaxBytes)
			carry = nil
		} else {
			select {
			case r := <-c.applyCh:
				b.add(r, c.cfg.BatchMaxBytes)
			case <-c.closing:
				return
			}
		}
		carry = c.collect(&b)
		for carry == nil && len(b.reqs) < c.cfg.BatchMaxCommands && len(c.slots) >= partialInflight {
			if c.cfg.batchHook != nil {
				c.cfg.batchHook(len(b.reqs))
			}
			select {
			case r := <-c.applyCh:
				if !b.add(r, c.cfg.BatchMaxBytes) {
					carry = r
				}
			case <-c.completed:
			case <-c.closing:
				b.fail(ErrShutdown)
				return
			}
		}
		// A new leader stamps only once its FSM holds every earlier entry,
		// so FSM.LastStamp is the last stamp of the previous terms.
		if err := c.awaitLeaderReady(); err != nil {
			b.fail(err)
			if err == ErrShutdown {
				if carry != nil {
					carry.done <- applyResult{err: ErrShutdown}
				}
				return
			}
			continue
		}
		select {
		case c.slots <- struct{}{}:
		case <-c.closing:
			b.fail(ErrShutdown)
			if carry != nil {
				carry.done <- applyResult{err: ErrShutdown}
			}
			return
		}

		stamp := max(c.cfg.Clock().UnixNano(), lastStamp, c.fsm.LastStamp()+1)
		lastStamp = stamp
		e := logentry.Entry{Stamp: stamp, Commands: make([][]byte, len(b.reqs))}
		for i, r := range b.reqs {
			e.Commands[i] = r.cmd
		}
		proposed := time.Now()
		for _, r := range b.reqs {
			metrics.MeasureSince(stageBatchWait, r.queued)
		}
		f := c.raft.Apply(logentry.Encode(e), 0)
		c.inflight <- &inflightEntry{future: f, reqs: b.reqs, proposed: proposed}
	}
}

// awaitLeaderReady waits for the current term's leader barrier.
func (c *Cluster) awaitLeaderReady() error {
	r := c.leaderReady(c.raft.CurrentTerm())
	select {
	case <-r.done:
		return r.err
	case <-c.closing:
		return ErrShutdown
	}
}

// collect adds whatever is queued to b, within BatchMaxCommands and
// BatchMaxBytes, lingering up to BatchLinger for more. A command that does
// not fit is returned for the next entry.
func (c *Cluster) collect(b *batch) (carry *applyRequest) {
	var linger <-chan time.Time
	if c.cfg.BatchLinger > 0 {
		t := time.NewTimer(c.cfg.BatchLinger)
		defer t.Stop()
		linger = t.C
	}
	for len(b.reqs) < c.cfg.BatchMaxCommands {
		var r *applyRequest
		select {
		case r = <-c.applyCh:
		default:
			if linger == nil {
				return nil
			}
			select {
			case r = <-c.applyCh:
			case <-linger:
				return nil
			case <-c.closing:
				return nil
			}
		}
		if !b.add(r, c.cfg.BatchMaxBytes) {
			return r
		}
	}
	return nil
}

// runResponder answers the callers of each proposed entry, in log order.
func (c *Cluster) runResponder() {
	for e := range c.inflight {
		err := e.future.Error()
		<-c.slots
		select {
		case c.completed <- struct{}{}:
		default:
		}
		if err != nil {
			err = c.applyError(err)
			for _, r := range e.reqs {
				r.done <- applyResult{err: err}
			}
			continue
		}
		metrics.MeasureSince(stageCommit, e.proposed)
		resp := e.future.Response()
		results, ok := resp.([]any)
		if !ok || len(results) != len(e.reqs) {
			err, isErr := resp.(error)
			if !isErr {
				err = fmt.Errorf("cluster: FSM returned %T for an entry of %d commands, want []any of that length", resp, len(e.reqs))
				c.logger.Error("bad FSM response", "error", err)
			}
			for _, r := range e.reqs {
				r.done <- applyResult{err: err}
			}
			continue
		}
		now := time.Now()
		index, n := e.future.Index(), len(e.reqs)
		for i, r := range e.reqs {
			if err, ok := results[i].(error); ok {
				r.done <- applyResult{err: err, sent: now, index: index, batch: n}
			} else {
				r.done <- applyResult{resp: results[i], sent: now, index: index, batch: n}
			}
		}
	}
}

// applyError translates raft's errors for a proposal.
func (c *Cluster) applyError(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return c.notLeader()
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case c.logStore.noSpace.Load():
		// raft's log cache flattens the store's error into text.
		return fmt.Errorf("%w: %v", ErrNoSpace, err)
	}
	return err
}
