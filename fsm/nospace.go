package fsm

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/segment"
)

// noSpaceMaxWait is the longest pause between two attempts of a write
// stalled for want of space.
const noSpaceMaxWait = time.Second

var (
	// errAborted is returned by a stalled write when Abort was called.
	errAborted = errors.New("fsm: apply aborted while waiting for disk space")
	// errNoCheckpoint refuses a checkpoint after an aborted apply.
	errNoCheckpoint = errors.New("fsm: no checkpoint after an apply given up for want of disk space (the node is stopping)")
)

// retryNoSpace runs write, the I/O of the entry at index, and while it
// fails for want of space (isNoSpace) waits and runs it again: until it
// succeeds, fails otherwise, or Abort is called (errAborted). write must be
// repeatable: it redoes only what did not happen. Called with f.mu held,
// so reads wait too: what the entry changed in memory is not on disk yet.
//
// This is how a committed entry is never skipped nor applied differently
// on a full disk: the replica stops applying until it can (see doc.go,
// "Full disk").
func (f *FSM) retryNoSpace(index uint64, isNoSpace func(error) bool, write func() error) error {
	err := write()
	if err == nil || !isNoSpace(err) {
		return err
	}
	f.log.Error("fsm: no space left to apply a committed entry; applying stops until there is space", "index", index, "err", err)
	f.stalled.Store(true)
	defer f.stalled.Store(false)
	if f.cfg.OnNoSpace != nil {
		f.cfg.OnNoSpace(err)
	}
	wait := time.Millisecond
	for attempt := 1; ; attempt++ {
		if err = write(); err == nil {
			f.log.Warn("fsm: applying again: the stalled write succeeded", "index", index, "attempts", attempt+1)
			return nil
		}
		if !isNoSpace(err) {
			return err
		}
		select {
		case <-f.abort:
			return fmt.Errorf("%w (index %d: %v)", errAborted, index, err)
		case <-time.After(wait):
		}
		wait = min(2*wait, noSpaceMaxWait)
	}
}

// segmentNoSpace matches a segment append that may succeed again.
func segmentNoSpace(err error) bool { return errors.Is(err, segment.ErrNoSpace) }

// fileNoSpace matches a file system call that failed for want of space.
func fileNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// writeStaged writes the staged records of the entry at index, waiting
// for space if need be.
func (f *FSM) writeStaged(index uint64) error {
	return f.retryNoSpace(index, segmentNoSpace, f.writePending)
}

// Stalled reports whether Apply is waiting for disk space to write an
// entry.
func (f *FSM) Stalled() bool { return f.stalled.Load() }

// Abort makes an Apply that waits for disk space give up, and any later
// one give up at its first failed write, so that raft can shut down. The
// FSM's memory then holds effects of an entry that are not on disk: it
// writes no checkpoint from then on (Flush and Snapshot fail, Close only
// closes the stores), and the next Open recovers from the last checkpoint
// while raft replays the rest. Callers abort only to stop the node.
func (f *FSM) Abort() {
	f.abortOnce.Do(func() { close(f.abort) })
}

// abortedResult answers every entry of a batch given up by Abort: the
// entries are committed and replayed at the next start, so their callers
// learn nothing definite (as when a node stops before answering).
func abortedResult(index uint64) error {
	return fmt.Errorf("fsm: node stopped while waiting for disk space to apply index %d: %w", index, flowmesh.ErrStopped)
}
