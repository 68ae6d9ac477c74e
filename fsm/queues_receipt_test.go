package fsm

import (
	"errors"
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// TestReceiptHasNoWildcard: an ack, nack or touch must carry the attempt of
// the job's current reservation. Attempt 0 (once "any reservation") and the
// attempt of an expired reservation are refused with ErrStaleReceipt and
// change nothing, on every replica alike: two FSMs fed the same entries
// end with the same state hash.
func TestReceiptHasNoWildcard(t *testing.T) {
	const path = "t/ns/q" // visibility 1s (createCmd)
	run := func(t *testing.T, h *harness) {
		h.mustApply(createCmd(flowmesh.KindQueue, "q"),
			&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: path, Payload: []byte("a")}}},
			&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: path}}})
		h.stamp += 2e9 // past the first reservation's visibility
		b := h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: path}}})[0].Job
		if b == nil || b.Attempt != 2 {
			t.Fatalf("second reservation: %+v, want attempt 2", b)
		}
		id := b.Receipt.JobID
		for _, attempt := range []int32{0, 1} {
			for _, c := range []*fsmpb.Command{
				{Op: &fsmpb.Command_Ack{Ack: &fsmpb.Ack{Path: path, JobId: id, Attempt: attempt}}},
				{Op: &fsmpb.Command_Nack{Nack: &fsmpb.Nack{Path: path, JobId: id, Attempt: attempt}}},
				{Op: &fsmpb.Command_Touch{Touch: &fsmpb.Touch{Path: path, JobId: id, Attempt: attempt, Visibility: 1e9}}},
			} {
				err, _ := h.apply(c)[0].(error)
				if !errors.Is(err, flowmesh.ErrStaleReceipt) {
					t.Errorf("%v while attempt 2 holds the job: %v, want ErrStaleReceipt", c, err)
				}
			}
		}
		if st, err := h.f.QueueStats(path, h.stamp); err != nil || st.InFlight != 1 {
			t.Fatalf("after the refused calls: %+v, %v; want the job still in flight", st, err)
		}
		h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Ack{Ack: &fsmpb.Ack{Path: path, JobId: id, Attempt: 2}}})
		if st, err := h.f.QueueStats(path, h.stamp); err != nil || st.InFlight != 0 || st.Ready != 0 {
			t.Fatalf("after the current holder's ack: %+v, %v; want an empty queue", st, err)
		}
	}
	h1, h2 := openHarness(t, t.TempDir()), openHarness(t, t.TempDir())
	run(t, h1)
	run(t, h2)
	if a, b := stateHash(t, h1.f), stateHash(t, h2.f); a != b {
		t.Errorf("replicas differ: state hash %s and %s", a, b)
	}
}
