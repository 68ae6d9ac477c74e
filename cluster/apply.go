package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh"
)

// applyRequest is one Apply call waiting for its result.
type applyRequest struct {
	cmd  []byte
	done chan applyResult // buffered: the responder never blocks
}

type applyResult struct {
	resp any
	err  error
}

// inflightEntry is a proposed log entry and the callers whose commands it
// carries, in order.
type inflightEntry struct {
	future raft.ApplyFuture
	reqs   []*applyRequest
}

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
	req := &applyRequest{cmd: cmd, done: make(chan applyResult, 1)}
	select {
	case c.applyCh <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closing:
		return nil, ErrShutdown
	}
	select {
	case r := <-req.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closing:
		return nil, ErrShutdown
	}
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
		e := Entry{Stamp: stamp, Commands: make([][]byte, len(b.reqs))}
		for i, r := range b.reqs {
			e.Commands[i] = r.cmd
		}
		f := c.raft.Apply(EncodeEntry(e), 0)
		c.inflight <- &inflightEntry{future: f, reqs: b.reqs}
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
		for i, r := range e.reqs {
			if err, ok := results[i].(error); ok {
				r.done <- applyResult{err: err}
			} else {
				r.done <- applyResult{resp: results[i]}
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
