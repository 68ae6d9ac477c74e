package fsm

import (
	"errors"
	"testing"

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
		h.push(flowmesh.KVEvent{Key: "k", Value: make([]byte, 50), Revision: uint64(i + 1)})
	}
	if h.len() != 1 || h.at(0).Revision != 5 {
		t.Fatalf("history of 50-byte values under a 100-byte bound: %d events, oldest %d", h.len(), h.at(0).Revision)
	}
	for i := range 30 {
		h.push(flowmesh.KVEvent{Key: "k", Revision: uint64(i + 10)})
	}
	if h.len() != 1 || h.at(0).Revision != 39 {
		t.Fatalf("after 30 small events: %d events, oldest %d; want 1 (65-byte events, 100-byte bound), 39", h.len(), h.at(0).Revision)
	}
}
