package fsm

import (
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/segment"
)

// Aging KV history out by time. The history's count and byte bounds depend
// only on the sequence of changes; a time bound cannot be decided in Apply
// from the stamps alone (a compacted log written before KVRecord.stamp
// existed gives its records the compaction's stamp, which differs between
// replicas). So the leader plans by age (PlanHistoryTrim, from the stamps it
// holds) and proposes a KVTrimHistory naming a revision; Apply drops the
// history below that revision on every replica alike and logs a
// history-start record, which replay applies at the same place.

// applyKVTrimHistory drops the store's history events below c.Before (at
// most the next revision). A command that finds nothing to drop (a repeat,
// or one planned by a former leader) changes nothing and logs nothing.
func (f *FSM) applyKVTrimHistory(ac *applyCtx, c *fsmpb.KVTrimHistory) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindKV)
	if err != nil {
		return nil, err
	}
	s := r.kv
	before := min(c.Before, f.kvRev+1)
	if s.history.len() == 0 || s.history.at(0).Revision >= before {
		return &Result{}, nil
	}
	n := s.history.len()
	kr := &fsmpb.KVRecord{Type: kvRecordHistoryStart, Revision: before}
	b, err := proto.Marshal(kr)
	if err != nil {
		return nil, fatalError{err}
	}
	f.stage(s.log, segment.Record{Index: ac.index, Timestamp: ac.stamp, Payload: b})
	s.replay(kr, ac.stamp)
	return &Result{Count: n - s.history.len()}, nil
}

// PlanHistoryTrim returns the KVTrimHistory commands the leader should
// propose at now (unix nanos): one for each KV store whose history holds
// changes stamped more than maxAge before now, dropping all of those. At
// most limit commands.
func (f *FSM) PlanHistoryTrim(now int64, maxAge time.Duration, limit int) []*fsmpb.KVTrimHistory {
	f.mu.RLock()
	defer f.mu.RUnlock()
	cutoff := now - int64(maxAge)
	var out []*fsmpb.KVTrimHistory
	for _, path := range f.sortedPaths() {
		s := f.resources[path].kv
		if s == nil {
			continue
		}
		// Stamps grow with revisions: the old events are a prefix.
		i := 0
		for i < s.history.len() && s.history.stampAt(i) < cutoff {
			i++
		}
		if i == 0 {
			continue
		}
		out = append(out, &fsmpb.KVTrimHistory{Path: path, Before: s.history.at(i-1).Revision + 1})
		if len(out) >= limit {
			break
		}
	}
	return out
}

// KVHistoryStats reports the bytes every KV store's Watch history holds
// (as MaxKVHistoryBytes counts them) and the number of KV stores, whose
// product with MaxKVHistoryBytes bounds the bytes. For /metrics: no I/O.
func (f *FSM) KVHistoryStats() (bytes int64, stores int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, r := range f.resources {
		if r.kv != nil {
			bytes += r.kv.history.size()
			stores++
		}
	}
	return bytes, stores
}
