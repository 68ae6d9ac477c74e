package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh/internal/snapdir"
)

// snapshotEntry is one complete snapshot directory, readable or not.
type snapshotEntry struct {
	id          string
	term, index uint64
	meta        *snapshotMeta // nil when meta.json is unreadable
	err         error         // why it cannot be used
}

// listUsable returns the snapshot raft should start from: the newest one
// that passes usable, or nil when there is none (or none is needed).
//
// Raft's own fallback (it tries every listed snapshot, newest first) is
// the trap of hashicorp/raft#85: replaying the log from an older snapshot
// is only correct when the log still holds every committed entry after
// it. So an older snapshot replaces an unusable newer one only when every
// snapshot newer than it was taken here, from entries this node applied
// (a snapshot received from a leader or an upload is a state the log
// cannot rebuild), and the log holds every entry from just after it up to
// the newest one's index. Otherwise it is an error naming the snapshot and
// what to do: raft starting from the wrong state would silently diverge.
func (s *SnapshotStore) listUsable() (*snapshotMeta, error) {
	metas, bad, err := s.list()
	if err != nil {
		return nil, err
	}
	all := make([]snapshotEntry, 0, len(metas)+len(bad))
	for _, m := range metas {
		all = append(all, snapshotEntry{id: m.ID, term: m.Term, index: m.Index, meta: m})
	}
	for _, b := range bad {
		all = append(all, snapshotEntry{id: b.id, term: b.term, index: b.index, err: b.err})
	}
	slices.SortStableFunc(all, func(a, b snapshotEntry) int {
		switch {
		case newer(a.term, a.index, b.term, b.index):
			return -1
		case newer(b.term, b.index, a.term, a.index):
			return 1
		}
		return -strings.Compare(a.id, b.id)
	})
	if len(all) == 0 {
		return nil, nil
	}
	s.listMu.Lock()
	defer s.listMu.Unlock()
	s.forgetGone(all)
	newest := all[0]
	for i := range all {
		e := &all[i]
		if e.err == nil {
			e.err = s.usable(e.meta)
		}
		if i > 0 {
			if why := s.fallbackBlocked(all[:i], e.index, newest.index); why != "" {
				return s.ownState(newest, why)
			}
		}
		if e.err != nil {
			continue
		}
		if i > 0 && !s.warned[e.id] {
			s.warned[e.id] = true
			s.logger.Warn("newest snapshot is unusable; starting from an older one and replaying the log after it",
				"unusable", s.snapPath(newest.id), "error", newest.err, "snapshot", e.id, "index", e.index)
		}
		return e.meta, nil
	}
	// Every snapshot is unusable: the log alone will do if it still starts
	// at index 1.
	if why := s.fallbackBlocked(all, 0, newest.index); why != "" {
		return s.ownState(newest, why)
	}
	if !s.warned[""] {
		s.warned[""] = true
		s.logger.Warn("no usable snapshot; replaying the whole log from index 1",
			"unusable", s.snapPath(newest.id), "error", newest.err)
	}
	return nil, nil
}

// forgetGone drops what was remembered about snapshots no longer on disk.
func (s *SnapshotStore) forgetGone(all []snapshotEntry) {
	present := make(map[string]bool, len(all))
	for _, e := range all {
		present[e.id] = true
	}
	for id := range s.checked {
		if !present[id] {
			delete(s.checked, id)
		}
	}
	for id := range s.warned {
		if id != "" && !present[id] {
			delete(s.warned, id)
		}
	}
}

func (s *SnapshotStore) snapPath(id string) string { return filepath.Join(s.dir, id) }

// usable checks a readable snapshot once: its files still match its
// manifest and the FSM accepts its checkpoint.
func (s *SnapshotStore) usable(m *snapshotMeta) error {
	if err, ok := s.checked[m.ID]; ok {
		return err
	}
	data := filepath.Join(s.dir, m.ID, dataDirName)
	files, err := snapdir.List(data)
	switch {
	case err != nil:
	case !slices.Equal(files, m.Files):
		err = errors.New("its files no longer match its manifest (missing, resized or extra)")
	case s.check != nil:
		_, err = s.check(data)
	}
	s.checked[m.ID] = err
	return err
}

// fallbackBlocked says why starting from the snapshot at index from (0: no
// snapshot) instead of the newer ones in skipped would lose entries, or ""
// when it would not.
func (s *SnapshotStore) fallbackBlocked(skipped []snapshotEntry, from, newest uint64) string {
	for _, e := range skipped {
		if e.meta == nil || !e.meta.Local {
			return fmt.Sprintf("snapshot %s was not taken from this node's log (received from a leader or restored, or unreadable), so no older state plus the log can rebuild it", e.id)
		}
	}
	if s.logs == nil {
		return "the raft log cannot be checked"
	}
	first, err := s.logs.FirstIndex()
	if err != nil {
		return fmt.Sprintf("reading the raft log: %v", err)
	}
	last, err := s.logs.LastIndex()
	if err != nil {
		return fmt.Sprintf("reading the raft log: %v", err)
	}
	if first == 0 || first > from+1 || last < newest {
		return fmt.Sprintf("the raft log holds entries %d..%d, not every entry %d..%d", first, last, from+1, newest)
	}
	// Indexes are contiguous in a raft log except across a restored
	// snapshot's burned index, so look at each one.
	var l raft.Log
	for i := from + 1; i <= newest; i++ {
		if err := s.logs.GetLog(i, &l); err != nil {
			return fmt.Sprintf("the raft log lacks entry %d: %v", i, err)
		}
	}
	return ""
}

// ownState is the last resort when no older snapshot can replace the
// unusable newest one: if the FSM's own files already hold its state
// (durable index at least its index) and its meta.json is sound, raft can
// start on it without restoring it (NoSnapshotRestoreOnStart follows from
// the same durable index), so List reports it. Until the next snapshot
// replaces it, a follower that needs a snapshot cannot get one from this
// node. Otherwise it is an error.
func (s *SnapshotStore) ownState(newest snapshotEntry, why string) (*snapshotMeta, error) {
	if newest.meta == nil || s.durable == nil || s.durable() < newest.index {
		return nil, s.noFallback(newest, why)
	}
	if !s.warned[newest.id] {
		s.warned[newest.id] = true
		s.logger.Warn("newest snapshot is unusable and no older one can replace it, but this node's own state already holds it; "+
			"starting without restoring it. This node cannot send a snapshot to a follower until it takes its next one",
			"unusable", s.snapPath(newest.id), "error", newest.err, "durable_index", s.durable(), "why_no_fallback", why)
	}
	return newest.meta, nil
}

func (s *SnapshotStore) noFallback(newest snapshotEntry, why string) error {
	return fmt.Errorf("cluster: newest snapshot %s is unusable (%v) and no older snapshot can replace it without losing committed entries: %s. "+
		"Restore this node's data directory from a backup, or, in a cluster with a quorum elsewhere, remove the node (flowmesh cluster remove-peer), "+
		"empty its data directory and start it again to receive a snapshot from the leader",
		s.snapPath(newest.id), newest.err, why)
}
