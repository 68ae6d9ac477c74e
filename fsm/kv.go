package fsm

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/btree"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/vfs"
	"github.com/flowmesh/flowmesh/segment"
)

type kvItem struct {
	key       string
	value     []byte
	rev       uint64
	createRev uint64
	expiresAt int64 // unix nanos; 0 = never
}

func (it *kvItem) expired(now int64) bool { return it.expiresAt != 0 && it.expiresAt <= now }

func (it *kvItem) public() flowmesh.KVEntry {
	e := flowmesh.KVEntry{Key: it.key, Value: it.value, Revision: it.rev, CreateRevision: it.createRev}
	if it.expiresAt != 0 {
		e.ExpiresAt = time.Unix(0, it.expiresAt).UTC()
	}
	return e
}

type kvState struct {
	log  *segment.Log
	meta *fsmpb.Resource
	tree *btree.BTreeG[*kvItem]
	ttl  map[string]struct{} // keys with an expiry
	// history holds the last HistoryRevisions changes in revision order,
	// at most MaxKVHistoryBytes of them, less those a KVTrimHistory aged
	// out. oldest is the first revision still watchable once older changes
	// were dropped (0 while none were).
	history *history
	oldest  uint64
	// probe is the search key of lookups on the apply path, which holds the
	// FSM's write lock (readers build their own).
	probe kvItem
	bytes int64  // the live keys' and values' bytes (kvBytes)
	tu    *usage // the tenant's use; nil while opening
	mem   *int64 // the cluster's memory use; nil while opening
}

// account adds d bytes and n keys to the store's and its tenant's use, and
// their memory charge to the cluster's.
func (s *kvState) account(d, n int64) {
	s.bytes += d
	if s.tu != nil {
		m := d + n*flowmesh.MemoryPerKVKey
		s.tu.StoredBytes += d
		s.tu.KVKeys += n
		s.tu.MemoryBytes += m
		*s.mem += m
	}
}

func kvLess(a, b *kvItem) bool { return a.key < b.key }

func openKV(dir string, m *fsmpb.Resource, cfg segment.Config, index uint64) (*kvState, error) {
	if err := recoverCompaction(vfs.Or(cfg.FS), dir); err != nil {
		return nil, err
	}
	l, err := openLog(filepath.Join(dir, "log"), cfg, index)
	if err != nil {
		return nil, err
	}
	s := &kvState{log: l, meta: m, tree: btree.NewG(32, kvLess), ttl: map[string]struct{}{},
		history: newHistory(int(m.HistoryRevisions), flowmesh.MaxKVHistoryBytes)}
	err = forEachRecord(l, l.EarliestOffset(), func(rec segment.Record) error {
		kr := &fsmpb.KVRecord{}
		if err := proto.Unmarshal(rec.Payload, kr); err != nil {
			return fmt.Errorf("kv record at offset %d: %w", rec.Offset, err)
		}
		stamp := kr.Stamp
		if stamp == 0 {
			stamp = rec.Timestamp
		}
		s.replay(kr, stamp)
		return nil
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	return s, nil
}

// kvRecordHistoryStart is a KVRecord type (beside the flowmesh.KVEventType
// values): its revision is the oldest watchable one, and history events
// below it are dropped. Compaction writes one first in the new log; an
// applied KVTrimHistory writes one where it happened. Stored on disk: never
// reuse the value.
const kvRecordHistoryStart = 0

// replay applies one logged change, made at stamp, to the in-memory state.
// A change below oldest is a live key's put that a compacted log rewrote
// ahead of the history: it is not history, so it is not pushed (every
// replica, compacted or not, holds the same history).
func (s *kvState) replay(kr *fsmpb.KVRecord, stamp int64) {
	if kr.Type == kvRecordHistoryStart {
		s.oldest = max(s.oldest, kr.Revision)
		s.history.dropBefore(kr.Revision)
		return
	}
	ev := flowmesh.KVEvent{Type: flowmesh.KVEventType(kr.Type), Key: kr.Key, Revision: kr.Revision}
	if ev.Type == flowmesh.KVEventPut {
		ev.Value = kr.Value
		old, replaced := s.tree.ReplaceOrInsert(&kvItem{key: kr.Key, value: kr.Value, rev: kr.Revision, createRev: kr.CreateRevision, expiresAt: kr.ExpiresAt})
		if replaced {
			s.account(kvBytes(kr.Key, kr.Value)-kvBytes(old.key, old.value), 0)
		} else {
			s.account(kvBytes(kr.Key, kr.Value), 1)
		}
		if kr.ExpiresAt != 0 {
			s.ttl[kr.Key] = struct{}{}
		} else {
			delete(s.ttl, kr.Key)
		}
	} else {
		if old, ok := s.tree.Delete(&kvItem{key: kr.Key}); ok {
			s.account(-kvBytes(old.key, old.value), -1)
		}
		delete(s.ttl, kr.Key)
	}
	if kr.Revision < s.oldest {
		return
	}
	if s.history.push(ev, stamp) {
		s.oldest = max(s.oldest, s.history.at(0).Revision)
	}
}

// change logs and applies one change.
func (f *FSM) kvChange(ac *applyCtx, s *kvState, kr *fsmpb.KVRecord) error {
	f.kvRev++
	kr.Revision = f.kvRev
	if kr.Type == int32(flowmesh.KVEventPut) && kr.CreateRevision == 0 {
		kr.CreateRevision = kr.Revision
	}
	b, err := proto.Marshal(kr)
	if err != nil {
		return fatalError{err}
	}
	f.stage(s.log, segment.Record{Index: ac.index, Timestamp: ac.stamp, Payload: b})
	s.replay(kr, ac.stamp)
	return nil
}

// validatePut is flowmesh.ValidatePut over a logged put: the node checks
// before proposing, Apply checks again (a key that is not UTF-8 would make
// every later List of the store fail to encode).
func validatePut(c *fsmpb.KVPut) error {
	return flowmesh.ValidatePut(c.Key, c.Value, flowmesh.KVPutOptions{TTL: time.Duration(c.Ttl)})
}

// live returns the key's item as of the stamp; an expired key is first
// removed with an expire event, so it is never seen.
func (f *FSM) live(ac *applyCtx, s *kvState, key string) (*kvItem, error) {
	s.probe.key = key
	it, ok := s.tree.Get(&s.probe)
	s.probe.key = ""
	if !ok {
		return nil, nil
	}
	if it.expired(ac.stamp) {
		return nil, f.kvChange(ac, s, &fsmpb.KVRecord{Type: int32(flowmesh.KVEventExpire), Key: key})
	}
	return it, nil
}

func checkRevision(key string, has bool, want uint64, cur *kvItem) error {
	if !has {
		return nil
	}
	var actual uint64
	if cur != nil {
		actual = cur.rev
	}
	if actual != want {
		return &flowmesh.RevisionMismatchError{Key: key, Expected: want, Actual: actual}
	}
	return nil
}

// conditional resolves a put's or delete's target: the store and the key's
// live item (nil when absent), once the input is valid and the condition
// holds.
func (f *FSM) conditional(ac *applyCtx, path, key string, invalid error, hasIf bool, ifRev uint64) (*kvState, *kvItem, error) {
	r, err := f.lookup(path, flowmesh.KindKV)
	if err != nil {
		return nil, nil, err
	}
	if invalid != nil {
		return nil, nil, invalid
	}
	cur, err := f.live(ac, r.kv, key)
	if err != nil {
		return nil, nil, err
	}
	if err := checkRevision(key, hasIf, ifRev, cur); err != nil {
		return nil, nil, err
	}
	return r.kv, cur, nil
}

func (f *FSM) applyKVPut(ac *applyCtx, c *fsmpb.KVPut) (*Result, error) {
	s, cur, err := f.conditional(ac, c.Path, c.Key, validatePut(c), c.HasIfRevision, c.IfRevision)
	if err != nil {
		return nil, err
	}
	need := usage{KVKeys: 1, StoredBytes: kvBytes(c.Key, c.Value), MemoryBytes: kvMemory(c.Key, c.Value)}
	if cur != nil {
		need.KVKeys, need.StoredBytes = 0, need.StoredBytes-kvBytes(cur.key, cur.value)
		need.MemoryBytes -= kvMemory(cur.key, cur.value)
	}
	if err := f.checkQuota(s.meta.Tenant, need); err != nil {
		return nil, err
	}
	kr := &fsmpb.KVRecord{Type: int32(flowmesh.KVEventPut), Key: c.Key, Value: c.Value}
	if c.Ttl > 0 {
		kr.ExpiresAt = ac.stamp + c.Ttl
	}
	if cur != nil {
		kr.CreateRevision = cur.createRev
	}
	if err := f.kvChange(ac, s, kr); err != nil {
		return nil, err
	}
	return &Result{Revision: kr.Revision}, nil
}

func (f *FSM) applyKVDelete(ac *applyCtx, c *fsmpb.KVDelete) (*Result, error) {
	s, cur, err := f.conditional(ac, c.Path, c.Key, flowmesh.ValidateDelete(c.Key), c.HasIfRevision, c.IfRevision)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		return nil, fmt.Errorf("%w: key %q in %s", flowmesh.ErrNotFound, c.Key, c.Path)
	}
	kr := &fsmpb.KVRecord{Type: int32(flowmesh.KVEventDelete), Key: c.Key}
	if err := f.kvChange(ac, s, kr); err != nil {
		return nil, err
	}
	return &Result{Revision: kr.Revision}, nil
}

func (f *FSM) applyKVExpire(ac *applyCtx, c *fsmpb.KVExpire) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindKV)
	if err != nil {
		return nil, err
	}
	it, ok := r.kv.tree.Get(&kvItem{key: c.Key})
	if !ok || it.rev != c.Revision || !it.expired(ac.stamp) {
		return &Result{}, nil // changed or not yet due on the log's clock: nothing to do
	}
	kr := &fsmpb.KVRecord{Type: int32(flowmesh.KVEventExpire), Key: c.Key}
	if err := f.kvChange(ac, r.kv, kr); err != nil {
		return nil, err
	}
	return &Result{Revision: kr.Revision}, nil
}

// KVGet returns a key's entry as of now (an expired key is not found).
func (f *FSM) KVGet(path, key string, now int64) (flowmesh.KVEntry, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindKV)
	if err != nil {
		return flowmesh.KVEntry{}, err
	}
	it, ok := r.kv.tree.Get(&kvItem{key: key})
	if !ok || it.expired(max(now, f.stamp.Load())) {
		return flowmesh.KVEntry{}, fmt.Errorf("%w: key %q in %s", flowmesh.ErrNotFound, key, path)
	}
	return it.public(), nil
}

// KVList returns up to limit live entries with prefix and key > after.
func (f *FSM) KVList(path, prefix, after string, limit int, now int64) ([]flowmesh.KVEntry, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindKV)
	if err != nil {
		return nil, err
	}
	now = max(now, f.stamp.Load())
	pivot := prefix
	if after >= prefix {
		pivot = after + "\x00"
	}
	var out []flowmesh.KVEntry
	r.kv.tree.AscendGreaterOrEqual(&kvItem{key: pivot}, func(it *kvItem) bool {
		if !strings.HasPrefix(it.key, prefix) {
			return false
		}
		if !it.expired(now) {
			out = append(out, it.public())
		}
		return limit <= 0 || len(out) < limit
	})
	return out, nil
}

// KVEvents returns up to limit changes under prefix with revision >= from,
// and the revision to continue from. from 0 means "from the next change".
func (f *FSM) KVEvents(path, prefix string, from uint64, limit int) ([]flowmesh.KVEvent, uint64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindKV)
	if err != nil {
		return nil, 0, err
	}
	s := r.kv
	if from == 0 {
		return nil, f.kvRev + 1, nil
	}
	if s.oldest != 0 && from < s.oldest {
		return nil, 0, &flowmesh.CompactedError{Requested: from, Oldest: s.oldest}
	}
	n := s.history.len()
	i := sort.Search(n, func(i int) bool { return s.history.at(i).Revision >= from })
	next := from
	var out []flowmesh.KVEvent
	for ; i < n && (limit <= 0 || len(out) < limit); i++ {
		ev := s.history.at(i)
		next = ev.Revision + 1
		if strings.HasPrefix(ev.Key, prefix) {
			out = append(out, ev)
		}
	}
	if i == n && next < f.kvRev+1 {
		next = f.kvRev + 1
	}
	return out, next, nil
}

// PlanExpiry returns expire commands for keys whose TTL passed by now.
func (f *FSM) PlanExpiry(now int64, limit int) []*fsmpb.KVExpire {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*fsmpb.KVExpire
	for _, path := range f.sortedPaths() {
		s := f.resources[path].kv
		if s == nil {
			continue
		}
		keys := make([]string, 0, len(s.ttl))
		for k := range s.ttl {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if it, ok := s.tree.Get(&kvItem{key: k}); ok && it.expired(now) {
				out = append(out, &fsmpb.KVExpire{Path: path, Key: k, Revision: it.rev})
				if len(out) >= limit {
					return out
				}
			}
		}
	}
	return out
}
