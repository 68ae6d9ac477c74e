package fsm

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/vfs"
	"github.com/flowmesh/flowmesh/segment"
)

// Compaction of queue and KV logs. Their logs hold every mutation, so they
// outgrow the live state; at a flush (right after the checkpoint, so the
// stores hold exactly the entries <= index) a log far larger than its live
// state is rewritten into a new directory with one record per live object,
// all at the checkpoint's index, and swapped in by rename. Snapshots hold
// hard links to the old files, which stay intact.
//
// Swap: rename log -> log.old, log.compact -> log, remove log.old.
// recoverCompaction finishes or undoes an interrupted swap on open, and at
// once after a failed step, so that the store keeps an open log.

const minCompactRecords = 4096

func recoverCompaction(fsys vfs.FS, dir string) error {
	log, old, tmp := filepath.Join(dir, "log"), filepath.Join(dir, "log.old"), filepath.Join(dir, "log.compact")
	_, errLog := fsys.Stat(log)
	_, errOld := fsys.Stat(old)
	switch {
	case errors.Is(errLog, os.ErrNotExist) && errOld == nil:
		// Crashed between the renames: the old log is complete, use it.
		if err := fsys.Rename(old, log); err != nil {
			return err
		}
	case errOld == nil:
		if err := fsys.RemoveAll(old); err != nil {
			return err
		}
	}
	return fsys.RemoveAll(tmp)
}

// rewriteLog writes recs into a fresh log and swaps it in for *l.
func rewriteLog(dir string, l **segment.Log, cfg segment.Config, recs []segment.Record) error {
	fsys := vfs.Or(cfg.FS)
	tmp := filepath.Join(dir, "log.compact")
	if err := fsys.RemoveAll(tmp); err != nil {
		return err
	}
	nl, err := segment.Open(tmp, cfg)
	if err != nil {
		return err
	}
	for len(recs) > 0 {
		n := min(len(recs), 1024)
		if _, err := nl.AppendBatch(recs[:n]); err != nil {
			nl.Close()
			return err
		}
		recs = recs[n:]
	}
	if err := nl.Close(); err != nil {
		return err
	}
	if err := (*l).Close(); err != nil {
		return err
	}
	log, old := filepath.Join(dir, "log"), filepath.Join(dir, "log.old")
	err = fsys.Rename(log, old)
	if err == nil {
		err = fsys.Rename(tmp, log)
	}
	if err == nil {
		err = vfs.Sync(fsys, dir)
	}
	if err == nil {
		err = fsys.RemoveAll(old)
	}
	if err != nil {
		// Finish or undo the swap as Open would (either log holds the
		// same state) so that the store keeps an open log.
		if rerr := recoverCompaction(fsys, dir); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	reopened, oerr := segment.Open(log, cfg)
	if oerr != nil {
		return errors.Join(err, oerr)
	}
	*l = reopened
	return err
}

func records(l *segment.Log) uint64 { return l.NextOffset() - l.EarliestOffset() }

// compactLocked rewrites the queue and KV logs that outgrew their state.
// Callers hold mu and have just written the checkpoint at index.
func (f *FSM) compactLocked(index uint64, stamp int64) error {
	for _, path := range f.sortedPaths() {
		r := f.resources[path]
		var err error
		switch {
		case r.queue != nil:
			q := r.queue
			if n := records(q.log); n >= minCompactRecords && n > 4*uint64(len(q.jobs)) {
				err = f.compactQueue(r, index, stamp)
			}
		case r.kv != nil:
			s := r.kv
			if n := records(s.log); n >= minCompactRecords && n > 4*uint64(s.tree.Len()+s.history.len()) {
				err = f.compactKV(r, index, stamp)
			}
		}
		if err != nil {
			return fmt.Errorf("fsm: compact %s: %w", path, err)
		}
	}
	return nil
}

func (f *FSM) compactQueue(r *resource, index uint64, stamp int64) error {
	q := r.queue
	recs := make([]segment.Record, 0, len(q.jobs)+1)
	for _, id := range q.sortedIDs() {
		j := q.jobs[id]
		b, err := proto.Marshal(&fsmpb.QueueRecord{NextSeq: q.nextSeq, Op: &fsmpb.QueueRecord_Put{Put: &fsmpb.Job{
			Id: j.id, Seq: j.seq, Payload: j.payload, EnqueuedAt: j.enqueuedAt, ReadyAt: j.readyAt,
			VisibleUntil: j.visibleUntil, Attempt: j.attempt, State: j.state}}})
		if err != nil {
			return err
		}
		recs = append(recs, segment.Record{Index: index, Timestamp: stamp, Payload: b})
	}
	if len(q.jobs) == 0 {
		// Keep the sequence counter even when the queue is empty.
		b, err := proto.Marshal(&fsmpb.QueueRecord{NextSeq: q.nextSeq})
		if err != nil {
			return err
		}
		recs = append(recs, segment.Record{Index: index, Timestamp: stamp, Payload: b})
	}
	before := records(q.log)
	if err := rewriteLog(r.dir, &q.log, f.cfg.Segment, recs); err != nil {
		return err
	}
	f.log.Info("compacted queue log", "path", r.path, "records_before", before, "records_after", len(recs))
	return nil
}

func (f *FSM) compactKV(r *resource, index uint64, stamp int64) error {
	s := r.kv
	// Live keys' latest puts and the retained history, in revision order;
	// a marker first records where watchable history starts (replay keeps
	// the puts below it out of the history).
	byRev := map[uint64]*fsmpb.KVRecord{}
	s.tree.Ascend(func(it *kvItem) bool {
		byRev[it.rev] = &fsmpb.KVRecord{Type: int32(flowmesh.KVEventPut), Key: it.key, Value: it.value,
			Revision: it.rev, CreateRevision: it.createRev, ExpiresAt: it.expiresAt}
		return true
	})
	// History records keep their changes' stamps (the new records' own are
	// the compaction's), so the leader still ages them out on time.
	for i := 0; i < s.history.len(); i++ {
		ev, stamp := s.history.at(i), s.history.stampAt(i)
		if kr, ok := byRev[ev.Revision]; ok {
			kr.Stamp = stamp
		} else {
			byRev[ev.Revision] = &fsmpb.KVRecord{Type: int32(ev.Type), Key: ev.Key, Value: ev.Value, Revision: ev.Revision, Stamp: stamp}
		}
	}
	revs := make([]uint64, 0, len(byRev))
	for rev := range byRev {
		revs = append(revs, rev)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	// The marker keeps oldest as it is (not the first kept event's revision,
	// which a trim may have left above it): a replica that never compacts
	// answers Watch from the same revisions.
	marker := &fsmpb.KVRecord{Type: kvRecordHistoryStart, Revision: s.oldest}
	all := append([]*fsmpb.KVRecord{marker}, make([]*fsmpb.KVRecord, 0, len(revs))...)
	for _, rev := range revs {
		all = append(all, byRev[rev])
	}
	recs := make([]segment.Record, 0, len(all))
	for _, kr := range all {
		b, err := proto.Marshal(kr)
		if err != nil {
			return err
		}
		recs = append(recs, segment.Record{Index: index, Timestamp: stamp, Payload: b})
	}
	before := records(s.log)
	if err := rewriteLog(r.dir, &s.log, f.cfg.Segment, recs); err != nil {
		return err
	}
	f.log.Info("compacted kv log", "path", r.path, "records_before", before, "records_after", len(recs))
	return nil
}
