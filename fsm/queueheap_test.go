package fsm

import (
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// TestQueueHeapsStayBounded: touching one job in a loop, and purging
// delayed jobs, leaves stale heap entries that must not pile up (or keep
// purged payloads alive) until their time comes.
func TestQueueHeapsStayBounded(t *testing.T) {
	h := openHarness(t, t.TempDir())
	h.mustApply(createCmd(flowmesh.KindQueue, "q"))
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: []byte("x")}}})
	res := h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q", Visibility: int64(flowmesh.MaxVisibility)}}})
	job := res[0].Job
	q := h.f.resources["t/ns/q"].queue
	heaps := func() int { return q.timers.Len() + q.ready.Len() }
	for i := 0; i < 5000; i++ {
		h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Touch{Touch: &fsmpb.Touch{Path: "t/ns/q", JobId: job.ID, Attempt: int32(job.Attempt),
			Visibility: int64(flowmesh.MaxVisibility)}}})
		if n := heaps(); n > 2*len(q.jobs)+heapSlack {
			t.Fatalf("touch %d: %d heap entries for %d jobs", i, n, len(q.jobs))
		}
	}
	cmds := make([]*fsmpb.Command, 0, 1000)
	for i := 0; i < 1000; i++ {
		cmds = append(cmds, &fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: make([]byte, 1000), Delay: int64(flowmesh.MaxDelay)}}})
	}
	h.mustApply(cmds...)
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Purge{Purge: &fsmpb.Purge{Path: "t/ns/q"}}})
	if n := heaps(); len(q.jobs) != 1 || n > 2+heapSlack {
		t.Fatalf("after purging delayed jobs: %d heap entries for %d jobs", n, len(q.jobs))
	}
	// The touched job still times out once, at its last visibility.
	h.stamp += int64(flowmesh.MaxVisibility) + 1
	res = h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q"}}})
	if res[0].Job == nil || res[0].Job.ID != job.ID || res[0].Job.Attempt != 2 {
		t.Fatalf("after the visibility timeout: reserved %+v, want job %s attempt 2", res[0].Job, job.ID)
	}
}
