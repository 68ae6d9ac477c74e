package cluster

import (
	"sync/atomic"

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
type sealFiler struct {
	*walsegment.Filer
}

func (f sealFiler) Create(info waltypes.SegmentInfo) (waltypes.SegmentWriter, error) {
	w, err := f.Filer.Create(info)
	if err != nil {
		return nil, err
	}
	return newSealingWriter(w, f.Filer, info), nil
}

func (f sealFiler) RecoverTail(info waltypes.SegmentInfo) (waltypes.SegmentWriter, error) {
	w, err := f.Filer.RecoverTail(info)
	if err != nil {
		return nil, err
	}
	return newSealingWriter(w, f.Filer, info), nil
}

// sealingWriter is a tail segment writer that swaps itself for a sealed
// reader after the append that seals it. Appends are serialised by
// raft-wal; reads may run at any time: the sealed state is published
// before the writer is dropped, so a read that finds no writer finds it.
type sealingWriter struct {
	filer *walsegment.Filer
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

func newSealingWriter(w waltypes.SegmentWriter, f *walsegment.Filer, info waltypes.SegmentInfo) *sealingWriter {
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
	info := s.info
	info.IndexStart = indexStart
	info.MaxIndex = b.w.LastIndex()
	r, err := s.filer.Open(info)
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
