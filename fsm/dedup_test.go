package fsm

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// The byte budget evicts the oldest entries once reserve results (which
// carry payloads) add up, keeps the newest even when it alone is larger,
// and its accounting returns to zero.
func TestDedupWindowByteBudget(t *testing.T) {
	d := newDedupWindow(time.Hour, 1000, 10_000)
	job := func(i int) *Result {
		return &Result{Job: &flowmesh.Job{ID: fmt.Sprint("job-", i), Payload: bytes.Repeat([]byte{'x'}, 3000)}}
	}
	for i := 0; i < 10; i++ {
		d.put(fmt.Sprint("r", i), int64(i), job(i))
		if d.bytes > d.maxBytes {
			t.Fatalf("after %d puts: %d bytes held, budget %d", i+1, d.bytes, d.maxBytes)
		}
	}
	// ~3.2 KB an entry: three fit in 10 KB.
	if n := len(d.byID); n != 3 {
		t.Fatalf("%d entries kept, want 3", n)
	}
	for i := 0; i < 10; i++ {
		_, ok := d.get(fmt.Sprint("r", i))
		if ok != (i >= 7) {
			t.Errorf("r%d remembered = %v", i, ok)
		}
	}
	// An entry bigger than the budget stays alone.
	d.put("huge", 10, &Result{Jobs: []flowmesh.Job{{ID: "j", Payload: make([]byte, 50_000)}}})
	if _, ok := d.get("huge"); !ok || len(d.byID) != 1 {
		t.Fatalf("huge entry kept %v, %d entries", ok, len(d.byID))
	}
	// Small results are cheap: the entry limit binds first.
	d2 := newDedupWindow(time.Hour, 100, 1<<20)
	for i := 0; i < 500; i++ {
		d2.put(fmt.Sprint("k", i), int64(i), &Result{Revision: uint64(i)})
	}
	if len(d2.byID) != 100 {
		t.Fatalf("%d entries, want the entry limit 100", len(d2.byID))
	}
	d2.expire(int64(time.Hour) + 1000)
	if len(d2.byID) != 0 || d2.bytes != 0 {
		t.Fatalf("after expiry: %d entries, %d bytes", len(d2.byID), d2.bytes)
	}
}
