package cluster

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	walsegment "github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
)

// sealFiler is raft-wal's segment filer with one change: once the tail
// segment is sealed (full), reads of it go through a plain sealed-segment
// reader, and the writer is dropped. raft-wal v0.4.0 keeps the writer of
// every segment sealed since the store opened as that segment's reader,
// and with it the writer's commit buffer, which grows to the largest
// append batch: with 256 KiB entries that was megabytes per segment, and a
// node holding 90 sealed segments peaked at 1.2 GB of anonymous memory
// where bolt took 370 MB (test/abuse TestBigValuesOnOneKey). The writer is
// not closed (a read that started on it may still be running); once no
// read holds it, the GC frees it and its file's finalizer closes the file.
//
// It also tells roll when the tail was sealed and when the next segment
// was created (see rollWait).
type sealFiler struct {
	*walsegment.Filer
	roll *rollWait
}

func (f sealFiler) Create(info waltypes.SegmentInfo) (waltypes.SegmentWriter, error) {
	w, err := f.Filer.Create(info)
	if err != nil {
		return nil, err
	}
	f.roll.created()
	return newSealingWriter(w, f, info), nil
}

func (f sealFiler) RecoverTail(info waltypes.SegmentInfo) (waltypes.SegmentWriter, error) {
	w, err := f.Filer.RecoverTail(info)
	if err != nil {
		return nil, err
	}
	return newSealingWriter(w, f, info), nil
}

// rollWait lets DeleteRange wait for raft-wal's background segment roll.
// An append that fills the tail seals it (index block written) and hands
// the roll (meta: tail sealed, next segment listed and created) to a
// goroutine. raft-wal v0.4.0's StoreLogs waits for a pending roll, but
// DeleteRange does not: a tail truncation that wins the race marks the
// sealed tail sealed itself and creates a new tail, and the roll then
// "seals" that new, empty tail and lists a segment with base index 1 after
// it; the next append fails ("non-monotonic append to segment with
// BaseIndex=1", TestWALTailTruncationSurvivesReopen). raft truncates a
// follower's tail right after an append when a new leader's log
// conflicts, on the same goroutine, so waiting here is enough.
type rollWait struct {
	mu      sync.Mutex
	pending chan struct{} // non-nil from a sealing append to the next Create
}

// sealed notes that an append sealed the tail.
func (r *rollWait) sealed() {
	r.mu.Lock()
	if r.pending == nil {
		r.pending = make(chan struct{})
	}
	r.mu.Unlock()
}

// created notes that the next segment exists.
func (r *rollWait) created() {
	r.mu.Lock()
	if r.pending != nil {
		close(r.pending)
		r.pending = nil
	}
	r.mu.Unlock()
}

// rollTimeout bounds rollWait.wait: a roll is one meta commit and a file
// creation; one that never finishes (raft-wal logs "rotate error") leaves
// the store unable to append anyway.
const rollTimeout = 30 * time.Second

// wait returns once no roll is pending, closing is closed, or rollTimeout
// passed (an error).
func (r *rollWait) wait(closing <-chan struct{}) error {
	r.mu.Lock()
	ch := r.pending
	r.mu.Unlock()
	if ch == nil {
		return nil
	}
	t := time.NewTimer(rollTimeout)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-closing:
		return nil // raft-wal refuses the call itself: it is closed
	case <-t.C:
		return fmt.Errorf("cluster: raft-wal's segment roll did not finish in %v", rollTimeout)
	}
}

// sealingWriter is a tail segment writer that swaps itself for a sealed
// reader after the append that seals it. Appends are serialised by
// raft-wal; reads may run at any time: the sealed state is published
// before the writer is dropped, so a read that finds no writer finds it.
type sealingWriter struct {
	filer sealFiler
	info  waltypes.SegmentInfo

	w      atomic.Pointer[writerBox]
	sealed atomic.Pointer[sealedState]
}

type writerBox struct{ w waltypes.SegmentWriter }

type sealedState struct {
	r          waltypes.SegmentReader
	indexStart uint64
	last       uint64
}

func newSealingWriter(w waltypes.SegmentWriter, f sealFiler, info waltypes.SegmentInfo) *sealingWriter {
	s := &sealingWriter{filer: f, info: info}
	s.w.Store(&writerBox{w})
	return s
}

func (s *sealingWriter) Append(entries []waltypes.LogEntry) error {
	b := s.w.Load()
	if b == nil {
		return waltypes.ErrSealed
	}
	if err := b.w.Append(entries); err != nil {
		return err
	}
	sealed, indexStart, err := b.w.Sealed()
	if err != nil || !sealed {
		return err
	}
	s.filer.roll.sealed()
	info := s.info
	info.IndexStart = indexStart
	info.MaxIndex = b.w.LastIndex()
	r, err := s.filer.Filer.Open(info)
	if err != nil {
		return nil // keep reading through the writer: it works, it only holds its buffer
	}
	s.sealed.Store(&sealedState{r: r, indexStart: indexStart, last: info.MaxIndex})
	s.w.Store(nil)
	return nil
}

func (s *sealingWriter) Sealed() (bool, uint64, error) {
	if b := s.w.Load(); b != nil {
		return b.w.Sealed()
	}
	return true, s.sealed.Load().indexStart, nil
}

func (s *sealingWriter) LastIndex() uint64 {
	if b := s.w.Load(); b != nil {
		return b.w.LastIndex()
	}
	return s.sealed.Load().last
}

func (s *sealingWriter) GetLog(idx uint64) (*waltypes.PooledBuffer, error) {
	if b := s.w.Load(); b != nil {
		return b.w.GetLog(idx)
	}
	return s.sealed.Load().r.GetLog(idx)
}

func (s *sealingWriter) Close() error {
	if b := s.w.Load(); b != nil {
		return b.w.Close()
	}
	return s.sealed.Load().r.Close()
}

var _ waltypes.SegmentWriter = (*sealingWriter)(nil)
