package fsm

import (
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// TestQueueCounters: a reservation after a nack or an expired visibility
// counts as a redelivery, a first reservation does not; a job nacked on its
// last attempt counts as dead. The counters are the process's: a reopened
// FSM starts them at zero.
func TestQueueCounters(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	const path = "t/ns/q" // MaxAttempts 3, visibility 1s (createCmd)
	h.mustApply(createCmd(flowmesh.KindQueue, "q"),
		&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: path, Payload: []byte("a")}}},
		&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: path, Payload: []byte("b")}}})
	reserve := func(wantAttempt int) *flowmesh.Job {
		t.Helper()
		j := h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: path}}})[0].Job
		if j == nil || j.Attempt != wantAttempt {
			t.Fatalf("reserved %+v, want attempt %d", j, wantAttempt)
		}
		return j
	}
	nack := func(j *flowmesh.Job) {
		t.Helper()
		h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Nack{Nack: &fsmpb.Nack{Path: path, JobId: j.ID, Attempt: int32(j.Attempt)}}})
	}
	counts := func(wantRedelivered, wantDead uint64) {
		t.Helper()
		r, d, err := h.f.QueueCounters(path)
		if err != nil || r != wantRedelivered || d != wantDead {
			t.Fatalf("QueueCounters = %d redelivered, %d dead, %v; want %d, %d", r, d, err, wantRedelivered, wantDead)
		}
	}

	a := reserve(1)
	counts(0, 0)
	nack(a)
	a = reserve(2) // after a nack
	counts(1, 0)
	h.stamp += 2e9 // past the 1s visibility
	a = reserve(3) // after the visibility timeout
	counts(2, 0)
	nack(a) // the last attempt: dead
	counts(2, 1)
	reserve(1) // b, first delivery
	counts(2, 1)
	if st, err := h.f.QueueStats(path, h.stamp); err != nil || st.Dead != 1 {
		t.Fatalf("QueueStats = %+v, %v; want 1 dead", st, err)
	}
	if _, _, err := h.f.QueueCounters("t/ns/nope"); err == nil {
		t.Error("QueueCounters of a missing queue: no error")
	}

	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	h = openHarness(t, dir)
	counts(0, 0)
}
