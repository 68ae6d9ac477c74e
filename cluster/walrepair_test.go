package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/metadb"
	walsegment "github.com/hashicorp/raft-wal/segment"
)

// genEntry is entry idx as written by generation gen: raft rewrites an
// index after a tail truncation with another entry, so each generation's
// bytes differ.
func genEntry(idx uint64, gen int) *raft.Log {
	p := make([]byte, int(idx*7919%61)+9)
	for i := range p {
		p[i] = byte(idx>>(i%8*8)) ^ byte(i*31) ^ byte(gen*101)
	}
	return &raft.Log{Index: idx, Term: uint64(gen) + 1, Type: raft.LogCommand, Data: p,
		AppendedAt: time.Unix(1700000000, int64(idx)*1000).UTC()}
}

// logModel is what a raft log store must hold: entries first..last.
type logModel struct {
	first, last uint64
	entries     map[uint64]*raft.Log
}

func (m *logModel) store(s raft.LogStore, n int, gen int) error {
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = genEntry(m.last+1+uint64(i), gen)
	}
	if err := s.StoreLogs(logs); err != nil {
		return fmt.Errorf("StoreLogs %d..%d: %w", m.last+1, m.last+uint64(n), err)
	}
	for _, l := range logs {
		m.entries[l.Index] = l
	}
	if m.first == 0 {
		m.first = 1
	}
	m.last += uint64(n)
	return nil
}

// truncateTail drops the last k entries, as raft does with a suffix that
// conflicts with a new leader's log.
func (m *logModel) truncateTail(s raft.LogStore, k uint64) error {
	from := m.last - k + 1
	if err := s.DeleteRange(from, m.last); err != nil {
		return fmt.Errorf("DeleteRange(%d, %d): %w", from, m.last, err)
	}
	for i := from; i <= m.last; i++ {
		delete(m.entries, i)
	}
	m.last = from - 1
	return nil
}

// compact drops the first k entries, as raft does after a snapshot.
func (m *logModel) compact(s raft.LogStore, k uint64) error {
	to := m.first + k - 1
	if err := s.DeleteRange(m.first, to); err != nil {
		return fmt.Errorf("DeleteRange(%d, %d): %w", m.first, to, err)
	}
	for i := m.first; i <= to; i++ {
		delete(m.entries, i)
	}
	m.first = to + 1
	return nil
}

func (m *logModel) check(s raft.LogStore) error {
	first, err := s.FirstIndex()
	if err != nil {
		return fmt.Errorf("FirstIndex: %w", err)
	}
	last, err := s.LastIndex()
	if err != nil {
		return fmt.Errorf("LastIndex: %w", err)
	}
	if first != m.first || last != m.last {
		return fmt.Errorf("store holds %d..%d, want %d..%d", first, last, m.first, m.last)
	}
	for i := m.first; m.last > 0 && i <= m.last; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			return fmt.Errorf("GetLog(%d) of %d..%d: %w", i, m.first, m.last, err)
		}
		if !sameEntry(&l, m.entries[i]) {
			return fmt.Errorf("GetLog(%d) served another entry (term %d, want %d)", i, l.Term, m.entries[i].Term)
		}
	}
	var l raft.Log
	if err := s.GetLog(m.last+1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		return fmt.Errorf("GetLog(%d) past the end: %v", m.last+1, err)
	}
	return nil
}

// TestWALTailTruncationSurvivesReopen drives the WAL store the way raft
// does across restarts: appends, tail truncations (a conflicting suffix
// dropped, then rewritten by another term) and head compactions, with
// small segments so truncations land inside sealed segments, in the tail
// and across segment boundaries; after each round the store is closed and
// reopened and must hold exactly the model's entries. raft-wal v0.4.0
// alone fails the first reopen after a tail truncation ("sealed segment
// has no index block", hashicorp/raft-wal#31).
func TestWALTailTruncationSurvivesReopen(t *testing.T) {
	walSegmentSize = 2 << 10
	t.Cleanup(func() { walSegmentSize = 0 })
	seed := time.Now().UnixNano()
	if v := os.Getenv("FLOWMESH_TEST_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	dir := t.TempDir()
	t.Cleanup(func() {
		if t.Failed() {
			meta := &metadb.BoltMetaDB{}
			st, _ := meta.Load(filepath.Join(dir, walDirName))
			meta.Close()
			for _, seg := range st.Segments {
				t.Logf("segment %+v", seg)
			}
		}
	})
	m := &logModel{entries: map[uint64]*raft.Log{}}
	before := walSegmentsResealed.Load()
	gen := 0
	truncations := 0
	for round := 0; round < 40; round++ {
		s, err := openLogStore(dir, LogStoreWAL)
		if err != nil {
			t.Fatalf("round %d: open: %v", round, err)
		}
		if err := m.check(s); err != nil {
			s.Close()
			t.Fatalf("round %d, after reopening: %v", round, err)
		}
		for op := 0; op < 4; op++ {
			switch r := rng.IntN(10); {
			case r < 4 && m.last-m.first > 2: // a conflicting suffix
				k := uint64(1 + rng.IntN(int(min(m.last-m.first, 60))))
				gen++
				err = m.truncateTail(s, k)
				truncations++
				if err == nil {
					err = m.store(s, 1+rng.IntN(int(k)+5), gen)
				}
			case r < 5 && m.last-m.first > 80: // a snapshot compacts the head
				err = m.compact(s, uint64(1+rng.IntN(40)))
			default:
				err = m.store(s, 1+rng.IntN(30), gen)
			}
			if err != nil {
				s.Close()
				t.Fatalf("round %d: %v", round, err)
			}
		}
		// Last, a suffix dropped from inside the tail segment (unless
		// these five entries filled it), as raft does on a follower.
		err = m.store(s, 5, gen)
		if gen++; err == nil {
			err = m.truncateTail(s, 2)
			truncations++
		}
		if err == nil {
			err = m.store(s, 1, gen)
		}
		if err != nil {
			s.Close()
			t.Fatalf("round %d: %v", round, err)
		}
		if err := m.check(s); err != nil {
			s.Close()
			t.Fatalf("round %d, before closing: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	resealed := walSegmentsResealed.Load() - before
	t.Logf("%d tail truncations, %d segments resealed at open, log %d..%d", truncations, resealed, m.first, m.last)
	if resealed == 0 {
		t.Fatal("no truncated segment was resealed: the test did not exercise repairTruncatedSegments")
	}
	assertSegmentFilesListed(t, dir)
}

// TestWALResealCrashAtEveryStep stops the repair at each of its steps, as
// a crash there would, then opens the store normally: it must hold every
// entry, rewritten entries with their new bytes, and no segment file its
// meta does not list.
func TestWALResealCrashAtEveryStep(t *testing.T) {
	walSegmentSize = 2 << 10
	t.Cleanup(func() { walSegmentSize = 0; walRepairFailpoint = "" })
	for _, step := range []string{"before-copy", "before-commit", "before-delete"} {
		t.Run(step, func(t *testing.T) {
			dir := t.TempDir()
			m := &logModel{entries: map[uint64]*raft.Log{}}
			s, err := openLogStore(dir, LogStoreWAL)
			if err != nil {
				t.Fatal(err)
			}
			// Entries across several segments, then a suffix dropped
			// from inside the tail and rewritten by the next term.
			for b := 0; b < 10; b++ {
				if err := m.store(s, 10, 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := m.truncateTail(s, 3); err != nil {
				t.Fatal(err)
			}
			if err := m.store(s, 5, 1); err != nil {
				t.Fatal(err)
			}
			s.Close()

			walRepairFailpoint = step
			s, err = openLogStore(dir, LogStoreWAL)
			walRepairFailpoint = ""
			if !errors.Is(err, errRepairFailpoint) {
				if err == nil {
					s.Close()
				}
				t.Fatalf("open with the failpoint at %s: %v, want the failpoint's error", step, err)
			}
			s, err = openLogStore(dir, LogStoreWAL)
			if err != nil {
				t.Fatalf("open after a crash %s: %v", step, err)
			}
			if err := m.check(s); err != nil {
				t.Fatalf("after a crash %s: %v", step, err)
			}
			if err := m.store(s, 5, 1); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s, err = openLogStore(dir, LogStoreWAL)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := m.check(s); err != nil {
				t.Fatal(err)
			}
			s.Close()
			assertSegmentFilesListed(t, dir)
		})
	}
}

// assertSegmentFilesListed fails when the wal dir of a closed store holds
// a segment file its meta database does not list, or lists one that is
// missing.
func assertSegmentFilesListed(t *testing.T, dir string) {
	t.Helper()
	wdir := filepath.Join(dir, walDirName)
	meta := &metadb.BoltMetaDB{}
	st, err := meta.Load(wdir)
	if err != nil {
		t.Fatal(err)
	}
	meta.Close()
	listed := map[string]bool{}
	for _, seg := range st.Segments {
		listed[walsegment.FileName(seg)] = true
	}
	ents, err := os.ReadDir(wdir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal") {
			files = append(files, e.Name())
			if !listed[e.Name()] {
				t.Errorf("segment file %s is not listed in the meta database", e.Name())
			}
		}
	}
	if len(files) != len(listed) {
		t.Errorf("%d segment files, %d listed: %v", len(files), len(listed), files)
	}
}
