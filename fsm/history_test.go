package fsm

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// TestKVHistoryBoundedInBytes: many large puts to one key keep at most
// MaxKVHistoryBytes of history (3000 x 256 KiB to one key held 2.7 GB), the
// same after a restart that replays the log, and Watch below what is kept
// is Compacted.
func TestKVHistoryBoundedInBytes(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	create := createCmd(flowmesh.KindKV, "kv")
	create.GetCreateResource().Resource.HistoryRevisions = 10000
	h.mustApply(create)
	value := make([]byte, flowmesh.MaxPayloadSize)
	n := int(2*flowmesh.MaxKVHistoryBytes/int64(len(value))) + 10
	for i := range n {
		value[0] = byte(i)
		h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "one", Value: value}}})
	}
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvDelete{KvDelete: &fsmpb.KVDelete{Path: "t/ns/kv", Key: "one"}}})
	check := func(f *FSM) (oldest uint64) {
		t.Helper()
		hist := f.resources["t/ns/kv"].kv.history
		if hist.size() > flowmesh.MaxKVHistoryBytes {
			t.Fatalf("history holds %d bytes, bound %d", hist.size(), flowmesh.MaxKVHistoryBytes)
		}
		if hist.len() < 200 || hist.len() >= n {
			t.Fatalf("history holds %d of %d events, want the ~255 newest", hist.len(), n+1)
		}
		var ce *flowmesh.CompactedError
		if _, _, err := f.KVEvents("t/ns/kv", "", 2, 0); !errors.As(err, &ce) {
			t.Fatalf("watch from revision 2: %v, want CompactedError", err)
		}
		evs, _, err := f.KVEvents("t/ns/kv", "", ce.Oldest, 0)
		if err != nil || len(evs) != hist.len() || evs[len(evs)-1].Type != flowmesh.KVEventDelete {
			t.Fatalf("watch from the oldest kept: %d events, %v", len(evs), err)
		}
		return ce.Oldest
	}
	oldest := check(h.f)
	h.f.Close()
	h2 := openHarness(t, dir)
	if got := check(h2.f); got != oldest {
		t.Errorf("after restart the oldest watchable revision is %d, was %d", got, oldest)
	}
}

// TestHistoryKeepsNewestEvent: an event larger than the byte bound is kept
// alone, never dropped itself.
func TestHistoryKeepsNewestEvent(t *testing.T) {
	h := newHistory(10, 100)
	for i := range 5 {
		h.push(flowmesh.KVEvent{Key: "k", Value: make([]byte, 50), Revision: uint64(i + 1)}, 0)
	}
	if h.len() != 1 || h.at(0).Revision != 5 {
		t.Fatalf("history of 50-byte values under a 100-byte bound: %d events, oldest %d", h.len(), h.at(0).Revision)
	}
	for i := range 30 {
		h.push(flowmesh.KVEvent{Key: "k", Revision: uint64(i + 10)}, 0)
	}
	if h.len() != 1 || h.at(0).Revision != 39 {
		t.Fatalf("after 30 small events: %d events, oldest %d; want 1 (65-byte events, 100-byte bound), 39", h.len(), h.at(0).Revision)
	}
}

// TestKVHistoryTrimByAge: a KVTrimHistory planned from the events' stamps
// drops a deleted key's large history on every replica alike; the store's
// oldest watchable revision moves past it (Watch below is Compacted); a
// replica that compacted its log and restarted, and one installed from a
// snapshot, hold the same history (StateHash covers it) and plan the same
// next trim (compaction keeps the events' stamps).
func TestKVHistoryTrimByAge(t *testing.T) {
	a := openHarness(t, filepath.Join(t.TempDir(), "a"))
	b := openHarness(t, filepath.Join(t.TempDir(), "b")) // never compacts
	both := func(cmds ...*fsmpb.Command) []*Result {
		t.Helper()
		b.stamp = a.stamp
		res := a.mustApply(cmds...)
		got := b.mustApply(cmds...)
		for i := range res {
			if res[i].Revision != got[i].Revision || res[i].Count != got[i].Count {
				t.Fatalf("replicas' results differ: %+v and %+v", *res[i], *got[i])
			}
		}
		return res
	}
	put := func(key string, value []byte) uint64 {
		t.Helper()
		return both(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: key, Value: value}}})[0].Revision
	}
	sameHash := func(when string) {
		t.Helper()
		if ha, hb := stateHash(t, a.f), stateHash(t, b.f); ha != hb {
			t.Fatalf("%s: replicas' state hashes differ", when)
		}
	}
	both(createCmd(flowmesh.KindKV, "kv")) // 100 revisions of history
	put("live", []byte("kept"))            // a live key whose put leaves the history
	for i := range 5000 {
		put(fmt.Sprintf("k%d", i%5), []byte(fmt.Sprint(i)))
	}
	for range 20 {
		put("big", make([]byte, 64<<10))
	}
	del := both(&fsmpb.Command{Op: &fsmpb.Command_KvDelete{KvDelete: &fsmpb.KVDelete{Path: "t/ns/kv", Key: "big"}}})[0].Revision
	if plan := a.f.PlanHistoryTrim(a.stamp, time.Hour, 100); len(plan) != 0 {
		t.Fatalf("plan with every change younger than the max age: %v, want none", plan)
	}

	a.stamp += int64(2 * time.Hour)
	fresh := put("fresh", []byte("1"))
	a.stamp += int64(30 * time.Minute)
	fresh2 := put("fresh", []byte("2"))
	before, _ := a.f.KVHistoryStats()
	plan := a.f.PlanHistoryTrim(a.stamp, time.Hour, 100)
	if len(plan) != 1 || plan[0].Path != "t/ns/kv" || plan[0].Before != del+1 {
		t.Fatalf("plan 2.5 h after the delete, max age 1 h: %v, want one trim before %d", plan, del+1)
	}
	res := both(&fsmpb.Command{Op: &fsmpb.Command_KvTrimHistory{KvTrimHistory: plan[0]}})
	if res[0].Count != 98 { // 100 kept, less the two fresh puts
		t.Fatalf("trim dropped %d events, want 98", res[0].Count)
	}
	if again := both(&fsmpb.Command{Op: &fsmpb.Command_KvTrimHistory{KvTrimHistory: plan[0]}}); again[0].Count != 0 {
		t.Fatalf("repeated trim dropped %d events, want 0", again[0].Count)
	}
	sameHash("after the trim")
	check := func(f *FSM, when string) {
		t.Helper()
		after, stores := f.KVHistoryStats()
		if stores != 1 || after >= before/100 || after > 2*(eventOverhead+10) {
			t.Fatalf("%s: history holds %d bytes in %d stores (%d before the trim), want only the two fresh puts", when, after, stores, before)
		}
		_, _, err := f.KVEvents("t/ns/kv", "", del, 0)
		if ce, ok := errors.AsType[*flowmesh.CompactedError](err); !ok || ce.Oldest != del+1 {
			t.Fatalf("%s: watch from the delete's revision: %v, want CompactedError{Oldest: %d}", when, err, del+1)
		}
		evs, _, err := f.KVEvents("t/ns/kv", "", del+1, 0)
		if err != nil || len(evs) != 2 || evs[0].Revision != fresh || evs[1].Revision != fresh2 {
			t.Fatalf("%s: watch from the oldest revision: %v, %v; want the fresh puts %d and %d", when, evs, err, fresh, fresh2)
		}
		if e, err := f.KVGet("t/ns/kv", "live", 0); err != nil || string(e.Value) != "kept" {
			t.Fatalf("%s: live key: %+v, %v", when, e, err)
		}
	}
	check(a.f, "after the trim")

	// a compacts its log and restarts; b replays nothing new.
	recs := records(a.f.resources["t/ns/kv"].kv.log)
	if err := a.f.Flush(); err != nil {
		t.Fatal(err)
	}
	if after := records(a.f.resources["t/ns/kv"].kv.log); after >= recs/10 {
		t.Fatalf("kv log not compacted: %d -> %d records", recs, after)
	}
	a.f.Close()
	stamp := a.stamp
	a = openHarness(t, a.f.cfg.Dir)
	a.stamp, a.index = stamp, b.index
	check(a.f, "after compaction and restart")
	sameHash("after compaction and restart")

	// The next trim is planned alike: the compacted log kept the stamps.
	now := a.stamp + int64(45*time.Minute) // 75 min after fresh, 45 min after fresh2
	pa, pb := a.f.PlanHistoryTrim(now, time.Hour, 100), b.f.PlanHistoryTrim(now, time.Hour, 100)
	if len(pa) != 1 || pa[0].Before != fresh+1 || fmt.Sprint(pa) != fmt.Sprint(pb) {
		t.Fatalf("plans after compaction: %v and %v, want one trim before %d", pa, pb, fresh+1)
	}
	both(&fsmpb.Command{Op: &fsmpb.Command_KvTrimHistory{KvTrimHistory: pa[0]}})
	sameHash("after the second trim")

	// A replica installed from a's snapshot holds the same history.
	snap, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufferSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	c := openHarness(t, filepath.Join(t.TempDir(), "c"))
	if err := c.f.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	if got, want := stateHash(t, c.f), stateHash(t, b.f); got != want {
		t.Fatal("replica restored from a snapshot: state hash differs")
	}
}
