package cluster

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-metrics"
	"github.com/hashicorp/raft"
)

// notifyingFSM wraps the FSM so WaitApplied wakes when entries are applied,
// and tracks entries raft never hands to the FSM.
//
// Raft keeps no-op entries (one at the start of every term) and barriers
// from the FSM, so FSM.AppliedIndex can stay below an index that raft has
// fully applied. A completed Barrier at index B proves the FSM has applied
// everything before B, so B becomes a floor for the applied index. So does
// a restored snapshot's index: the FSM's own applied index is then the last
// command in the snapshot, and the log holds nothing below the snapshot.
type notifyingFSM struct {
	FSM
	// latestSnapshot returns the index of the newest snapshot in the store;
	// raft writes a snapshot there before it restores the FSM from it.
	latestSnapshot func() uint64
	floor          atomic.Uint64
	mu             sync.Mutex
	applied        chan struct{} // closed and replaced after every apply
}

func newNotifyingFSM(f FSM) *notifyingFSM {
	return &notifyingFSM{FSM: f, applied: make(chan struct{})}
}

var _ raft.BatchingFSM = (*notifyingFSM)(nil)

func (n *notifyingFSM) ApplyBatch(logs []*raft.Log) []any {
	defer n.notify()
	defer metrics.MeasureSince(stageFSMApply, time.Now())
	return n.FSM.ApplyBatch(logs)
}

func (n *notifyingFSM) Apply(l *raft.Log) any {
	defer n.notify()
	return n.FSM.Apply(l)
}

func (n *notifyingFSM) Restore(r io.ReadCloser) error {
	defer n.notify()
	if err := n.FSM.Restore(r); err != nil {
		return err
	}
	if n.latestSnapshot != nil {
		n.raiseFloor(n.latestSnapshot())
	}
	return nil
}

// appliedIndex is the index up to which every entry has been applied.
func (n *notifyingFSM) appliedIndex() uint64 {
	return max(n.FSM.AppliedIndex(), n.floor.Load())
}

// barrierApplied records a completed Barrier at index.
func (n *notifyingFSM) barrierApplied(index uint64) {
	n.raiseFloor(index)
	n.notify()
}

func (n *notifyingFSM) raiseFloor(index uint64) {
	for {
		cur := n.floor.Load()
		if index <= cur || n.floor.CompareAndSwap(cur, index) {
			return
		}
	}
}

func (n *notifyingFSM) notify() {
	n.mu.Lock()
	close(n.applied)
	n.applied = make(chan struct{})
	n.mu.Unlock()
}

func (n *notifyingFSM) appliedCh() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.applied
}

// waitApplied returns once the FSM has applied index.
func (n *notifyingFSM) waitApplied(ctx context.Context, closing <-chan struct{}, index uint64) error {
	for {
		ch := n.appliedCh()
		if n.appliedIndex() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-closing:
			return ErrShutdown
		}
	}
}
