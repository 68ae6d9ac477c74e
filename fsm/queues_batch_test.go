package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/logentry"
)

func enqueueBatchCmd(path string, payloads ...string) *fsmpb.Command {
	c := &fsmpb.EnqueueBatch{Path: path}
	for i, p := range payloads {
		it := &fsmpb.EnqueueItem{Payload: []byte(p)}
		if i%3 == 0 {
			it.DedupId = "d-" + p
		}
		if i%4 == 1 {
			it.Delay = 5000 // ready two entries later (the harness steps 1000 ns)
		}
		c.Jobs = append(c.Jobs, it)
	}
	return &fsmpb.Command{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: c}}
}

func reserveBatchCmd(path string, max int32, vis int64) *fsmpb.Command {
	return &fsmpb.Command{Op: &fsmpb.Command_ReserveBatch{ReserveBatch: &fsmpb.ReserveBatch{Path: path, Max: max, Visibility: vis, MaxBytes: flowmesh.MaxBatchBytes}}}
}

func ackBatchCmd(path string, jobs []flowmesh.Job, staleEvery int) *fsmpb.Command {
	c := &fsmpb.AckBatch{Path: path}
	for i, j := range jobs {
		a := int32(j.Attempt)
		if staleEvery > 0 && i%staleEvery == 0 {
			a++
		}
		c.Receipts = append(c.Receipts, &fsmpb.Receipt{JobId: j.ID, Attempt: a})
	}
	return &fsmpb.Command{Op: &fsmpb.Command_AckBatch{AckBatch: c}}
}

// populateBatches drives a queue with batch commands only: enqueues with
// delays and DedupIDs (some repeated), reservations whose visibility ends
// (redeliveries, dead jobs past MaxAttempts 3), and acks with stale receipts.
func populateBatches(h *harness, rounds int) {
	h.mustApply(createCmd(flowmesh.KindQueue, "bq"))
	for i := range rounds {
		var ps []string
		for j := range 7 {
			ps = append(ps, fmt.Sprintf("p%d", (i*7+j)%40)) // repeats exercise the DedupIDs
		}
		res := h.mustApply(enqueueBatchCmd("t/ns/bq", ps...), reserveBatchCmd("t/ns/bq", 5, 3000))
		h.mustApply(ackBatchCmd("t/ns/bq", res[1].Jobs, 3))
	}
}

// TestBatchCommandsAreDeterministic applies the same batch commands to two
// FSMs and checks equal results and state; then snapshots one, restores it
// into a third, and checks that the restored state and the answers to
// further commands are the same.
func TestBatchCommandsAreDeterministic(t *testing.T) {
	a := openHarness(t, filepath.Join(t.TempDir(), "a"))
	b := openHarness(t, filepath.Join(t.TempDir(), "b"))
	populateBatches(a, 60)
	populateBatches(b, 60)
	want := stateHash(t, a.f)
	if got := stateHash(t, b.f); got != want {
		t.Fatalf("replicas applying the same batch commands differ: %s vs %s", got, want)
	}
	st, err := a.f.QueueStats("t/ns/bq", a.stamp)
	if err != nil {
		t.Fatal(err)
	}
	if st.Dead == 0 || st.InFlight+st.Ready+st.Delayed == 0 {
		t.Fatalf("workload did not reach dead and live jobs: %+v", st)
	}

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
	if got := stateHash(t, c.f); got != want {
		t.Fatalf("restored state %s, want %s", got, want)
	}
	c.index, c.stamp = a.index, a.stamp
	if ra, rc := populateBatches2(a), populateBatches2(c); !reflect.DeepEqual(ra, rc) {
		t.Fatalf("after the snapshot the source and the restored FSM answer differently:\n%+v\n%+v", ra, rc)
	}
	if ga, gc := stateHash(t, a.f), stateHash(t, c.f); ga != gc {
		t.Fatalf("after more batch commands: source %s, restored %s", ga, gc)
	}
}

// populateBatches2 continues the workload after a snapshot.
func populateBatches2(h *harness) []*Result {
	var out []*Result
	for i := range 10 {
		out = append(out, h.mustApply(enqueueBatchCmd("t/ns/bq", fmt.Sprintf("late%d", i), "p1"), reserveBatchCmd("t/ns/bq", 10, 0))...)
	}
	return out
}

// TestBatchResultsSurviveCheckpoint checks that a retried batch (same
// request ID) after a restart returns the first answer, per-item errors
// included: the dedup window carries batch results through the checkpoint.
func TestBatchResultsSurviveCheckpoint(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	h.mustApply(createCmd(flowmesh.KindQueue, "q"))
	withID := func(id string, c *fsmpb.Command) *fsmpb.Command { c.RequestId = id; return c }
	enq := h.mustApply(withID("e1", enqueueBatchCmd("t/ns/q", "a", "b", "c", "a")))[0]
	h.stamp += 10_000 // past the delays
	res := h.mustApply(withID("r1", reserveBatchCmd("t/ns/q", 10, 1e9)))[0]
	if len(res.Jobs) != 3 || enq.Items[3] != enq.Items[0] {
		t.Fatalf("reserved %d jobs of items %+v, want 3 (the fourth repeats the first's DedupID)", len(res.Jobs), enq.Items)
	}
	ack := h.mustApply(withID("a1", ackBatchCmd("t/ns/q", res.Jobs, 2)))[0]
	if !errors.Is(ack.Items[0].Err, flowmesh.ErrStaleReceipt) || ack.Items[1].Err != nil {
		t.Fatalf("AckBatch items %+v, want stale, acked, ...", ack.Items)
	}
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}

	h2 := openHarness(t, dir)
	h2.index, h2.stamp = h.index, h.stamp
	got := h2.mustApply(
		withID("e1", enqueueBatchCmd("t/ns/q", "a", "b", "c", "a")),
		withID("r1", reserveBatchCmd("t/ns/q", 10, 1e9)),
		withID("a1", ackBatchCmd("t/ns/q", res.Jobs, 2)),
	)
	if !reflect.DeepEqual(got[0].Items, enq.Items) {
		t.Errorf("retried EnqueueBatch after restart: %+v, want %+v", got[0].Items, enq.Items)
	}
	if len(got[1].Jobs) != len(res.Jobs) {
		t.Fatalf("retried ReserveBatch after restart: %d jobs, want %d", len(got[1].Jobs), len(res.Jobs))
	}
	for i, j := range got[1].Jobs {
		w := res.Jobs[i]
		if j.ID != w.ID || j.Receipt != w.Receipt || !bytes.Equal(j.Payload, w.Payload) || !j.VisibleUntil.Equal(w.VisibleUntil) {
			t.Errorf("retried ReserveBatch job %d: %+v, want %+v", i, j, w)
		}
	}
	for i, it := range got[2].Items {
		w := ack.Items[i]
		if (it.Err == nil) != (w.Err == nil) || (w.Err != nil && (it.Err.Error() != w.Err.Error() || !errors.Is(it.Err, flowmesh.ErrStaleReceipt))) {
			t.Errorf("retried AckBatch item %d: %v, want %v", i, it.Err, w.Err)
		}
	}
	st, err := h2.f.QueueStats("t/ns/q", h2.stamp)
	if err != nil {
		t.Fatal(err)
	}
	if st.InFlight != 2 || st.Ready+st.Delayed+st.Dead != 0 {
		t.Errorf("after retries: %+v, want the 2 jobs of stale acks still in flight", st)
	}
}

// TestBatchValidationInApply checks that the FSM refuses malformed batches
// itself (a command may come from any client version) without side effects.
func TestBatchValidationInApply(t *testing.T) {
	h := openHarness(t, t.TempDir())
	h.mustApply(createCmd(flowmesh.KindQueue, "q")) // MaxPayload 1024
	big := make([]byte, 1025)
	many := &fsmpb.EnqueueBatch{Path: "t/ns/q"}
	for range flowmesh.MaxQueueBatch + 1 {
		many.Jobs = append(many.Jobs, &fsmpb.EnqueueItem{Payload: []byte("x")})
	}
	cmds := []*fsmpb.Command{
		{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: &fsmpb.EnqueueBatch{Path: "t/ns/q"}}},
		{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: many}},
		{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: &fsmpb.EnqueueBatch{Path: "t/ns/q", Jobs: []*fsmpb.EnqueueItem{{Payload: []byte("ok")}, {Payload: big}}}}},
		{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: &fsmpb.EnqueueBatch{Path: "t/ns/q", Jobs: []*fsmpb.EnqueueItem{{Payload: []byte("ok")}, {Delay: -1}}}}},
		reserveBatchCmd("t/ns/q", 0, 0),
		reserveBatchCmd("t/ns/q", flowmesh.MaxQueueBatch+1, 0),
		reserveBatchCmd("t/ns/q", 1, -1),
		{Op: &fsmpb.Command_AckBatch{AckBatch: &fsmpb.AckBatch{Path: "t/ns/q"}}},
		{Op: &fsmpb.Command_AckBatch{AckBatch: &fsmpb.AckBatch{Path: "t/ns/q", Receipts: []*fsmpb.Receipt{{JobId: "1", Attempt: 0}}}}},
		enqueueBatchCmd("t/ns/missing", "a"),
	}
	want := []string{"jobs", "jobs per batch", "jobs[1].payload bytes", "jobs[1].delay", "max", "max", "visibility", "receipts", "receipts[0].attempt", "not found"}
	for i, r := range h.apply(cmds...) {
		err, _ := r.(error)
		var inv *flowmesh.InvalidArgumentError
		var lim *flowmesh.LimitError
		switch {
		case errors.As(err, &inv):
			if inv.Field != want[i] {
				t.Errorf("command %d: field %q, want %q (%v)", i, inv.Field, want[i], err)
			}
		case errors.As(err, &lim):
			if lim.What != want[i] {
				t.Errorf("command %d: limit %q, want %q (%v)", i, lim.What, want[i], err)
			}
		case errors.Is(err, flowmesh.ErrNotFound) && want[i] == "not found":
		default:
			t.Errorf("command %d: got %v, want an error naming %q", i, r, want[i])
		}
	}
	st, err := h.f.QueueStats("t/ns/q", h.stamp)
	if err != nil {
		t.Fatal(err)
	}
	if st != (flowmesh.QueueStats{}) {
		t.Errorf("refused batches changed the queue: %+v", st)
	}
}

// FuzzBatchApply applies mutated batch commands (after a few jobs exist) and
// requires no fatal error and a computable state.
func FuzzBatchApply(f *testing.F) {
	for _, c := range []*fsmpb.Command{
		enqueueBatchCmd("t/ns/q", "a", "b", "c", "d"),
		reserveBatchCmd("t/ns/q", 3, 1e9),
		ackBatchCmd("t/ns/q", []flowmesh.Job{{ID: "2.0.0", Attempt: 1}, {ID: "2.0.1", Attempt: 1}}, 0),
	} {
		b, err := proto.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		h := openHarness(t, filepath.Join(dir, fmt.Sprint(n)))
		h.mustApply(createCmd(flowmesh.KindQueue, "q"))
		h.mustApply(enqueueBatchCmd("t/ns/q", "x", "y", "z"), reserveBatchCmd("t/ns/q", 2, 1e9))
		e := logentry.Encode(logentry.Entry{Stamp: h.stamp, Commands: [][]byte{data, data}})
		h.index++
		h.f.ApplyBatch([]*raft.Log{{Index: h.index, Type: raft.LogCommand, Data: e}})
		if len(h.fatal) > 0 {
			t.Fatalf("fatal on input: %v", h.fatal)
		}
		if _, err := h.f.StateHash(); err != nil {
			t.Fatal(err)
		}
		if _, err := h.f.QueueStats("t/ns/q", h.stamp); err != nil {
			t.Fatal(err)
		}
	})
}
