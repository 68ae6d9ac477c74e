package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// round is one shared raft operation that many callers wait for.
type round struct {
	done chan struct{}
	err  error // set before done is closed
}

// readBarrier holds the read path's shared rounds.
type readBarrier struct {
	mu sync.Mutex
	// ready is the Barrier that proves the leader committed an entry in
	// readyTerm; readers in that term reuse it.
	ready     *round
	readyTerm uint64
	// next collects callers for the next VerifyLeader; one runs at a time,
	// so concurrent reads share heartbeat rounds.
	next      *round
	verifying bool
}

// ReadIndex is the linearizable read barrier. It notes the commit index,
// confirms with a quorum that this node is still the leader in the same term
// (after the leader has committed an entry of its own term), and returns
// once the local FSM has applied that index. Reads of local state after it
// returns observe every write acknowledged before ReadIndex was called.
// On a node that is not the leader it returns a *flowmesh.NotLeaderError.
func (c *Cluster) ReadIndex(ctx context.Context) (uint64, error) {
	if !c.IsLeader() {
		return 0, c.notLeader()
	}
	term := c.raft.CurrentTerm()
	if err := c.wait(ctx, c.leaderReady(term)); err != nil {
		return 0, err
	}
	index := c.raft.CommitIndex()
	if err := c.wait(ctx, c.verifyLeader()); err != nil {
		return 0, err
	}
	if c.raft.CurrentTerm() != term || !c.IsLeader() {
		return 0, c.notLeader()
	}
	if err := c.WaitApplied(ctx, index); err != nil {
		return 0, err
	}
	return index, nil
}

// WaitApplied returns once the local FSM has applied every entry up to
// index. Raft hands the FSM only command and configuration entries, so the
// FSM's applied index stops short of trailing no-ops and barriers (the read
// barrier itself is one): once raft has dispatched index and nothing between
// the FSM's applied index and index is an entry the FSM receives, the FSM is
// done. Raft dispatches those entries without telling the FSM, hence the
// short poll alongside the FSM's notifications.
func (c *Cluster) WaitApplied(ctx context.Context, index uint64) error {
	poll := 200 * time.Microsecond
	for {
		ch := c.fsm.appliedCh()
		applied := c.fsm.appliedIndex()
		if applied >= index || (c.raft.AppliedIndex() >= index && c.noFSMEntries(applied+1, index)) {
			return nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ch:
		case <-t.C:
			poll = min(2*poll, 5*time.Millisecond)
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.closing:
			t.Stop()
			return ErrShutdown
		}
		t.Stop()
	}
}

// noFSMEntries reports whether the log entries in [from, to] are all of
// types raft never hands to the FSM.
func (c *Cluster) noFSMEntries(from, to uint64) bool {
	if to-from > 1024 {
		return false
	}
	var l raft.Log
	for i := from; i <= to; i++ {
		if err := c.logs.GetLog(i, &l); err != nil {
			return false
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

func (c *Cluster) wait(ctx context.Context, r *round) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return ErrShutdown
	}
}

// leaderReady returns the round of the Barrier for term, starting one if
// there is none or the last one failed. Raft commits a no-op when a leader
// is elected; the Barrier completes once it (and all before it) is applied.
func (c *Cluster) leaderReady(term uint64) *round {
	b := &c.reads
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ready != nil && b.readyTerm == term {
		select {
		case <-b.ready.done:
			if b.ready.err == nil {
				return b.ready
			}
		default:
			return b.ready
		}
	}
	r := &round{done: make(chan struct{})}
	b.ready, b.readyTerm = r, term
	if !c.goFunc(func() {
		f := c.raft.Barrier(0)
		r.err = c.applyError(f.Error())
		if ixf, ok := f.(raft.IndexFuture); ok && r.err == nil {
			c.fsm.barrierApplied(ixf.Index())
		}
		close(r.done)
	}) {
		r.err = ErrShutdown
		close(r.done)
	}
	return r
}

// verifyLeader returns a VerifyLeader round that starts after this call.
func (c *Cluster) verifyLeader() *round {
	b := &c.reads
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = &round{done: make(chan struct{})}
	}
	r := b.next
	if !b.verifying {
		if !c.goFunc(c.runVerify) {
			b.next = nil
			r.err = ErrShutdown
			close(r.done)
			return r
		}
		b.verifying = true
	}
	return r
}

func (c *Cluster) runVerify() {
	b := &c.reads
	for {
		b.mu.Lock()
		r := b.next
		b.next = nil
		if r == nil {
			b.verifying = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		r.err = c.applyError(c.raft.VerifyLeader().Error())
		close(r.done)
	}
}
