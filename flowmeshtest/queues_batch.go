package flowmeshtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// Batched queue operations (flowmesh.QueueBatcher). The group runs when the
// target's QueueManager also implements QueueBatcher.
var queueBatchTests = []subtest{
	{"EnqueueBatch", testBatchEnqueue},
	{"ReserveBatchFIFO", testBatchReserveFIFO},
	{"ReserveBatchPartial", testBatchReservePartial},
	{"ReserveBatchSkipsDelayed", testBatchReserveSkipsDelayed},
	{"ReserveBatchBytes", testBatchReserveBytes},
	{"AckBatchPerItem", testBatchAckPerItem},
	{"EnqueueBatchDedup", testBatchDedup},
	{"IdempotentBatches", testBatchIdempotent},
	{"Limits", testBatchLimits},
	{"ReserveBatchWait", testBatchReserveWait},
	{"ConcurrentBatchWorkers", testBatchConcurrentWorkers},
	// Time-dependent: they move the node's clock.
	{"DelayElapses", testBatchDelayElapses},
	{"VisibilityExpiry", testBatchVisibilityExpiry},
	{"DeadLetterAfterMaxAttempts", testBatchDeadLetter},
	{"DeadAfterMaxAttempts", testBatchDead},
}

func batcher(tg Target) flowmesh.QueueBatcher {
	b, _ := tg.Queues.(flowmesh.QueueBatcher)
	return b
}

func items(payloads ...string) []flowmesh.EnqueueItem {
	out := make([]flowmesh.EnqueueItem, len(payloads))
	for i, p := range payloads {
		out[i] = flowmesh.EnqueueItem{Payload: []byte(p)}
	}
	return out
}

func enqueueBatch(t *testing.T, tg Target, q string, jobs []flowmesh.EnqueueItem, opts ...flowmesh.CallOption) []flowmesh.EnqueuedJob {
	t.Helper()
	res, err := batcher(tg).EnqueueBatch(testCtx(t), q, jobs, opts...)
	ok(t, "EnqueueBatch", err)
	if len(res) != len(jobs) {
		t.Fatalf("EnqueueBatch of %d jobs returned %d results", len(jobs), len(res))
	}
	for i, r := range res {
		if r.JobID == "" || r.Seq == 0 {
			t.Fatalf("EnqueueBatch item %d: result %+v, want a job ID and a sequence", i, r)
		}
	}
	return res
}

func reserveBatch(t *testing.T, tg Target, q string, max int, visibility time.Duration, opts ...flowmesh.CallOption) []flowmesh.Job {
	t.Helper()
	jobs, err := batcher(tg).ReserveBatch(testCtx(t), q, max, visibility, opts...)
	ok(t, fmt.Sprintf("ReserveBatch(max %d)", max), err)
	if jobs == nil {
		t.Errorf("ReserveBatch returned a nil slice, want an empty one when no job is ready")
	}
	if len(jobs) > max {
		t.Fatalf("ReserveBatch(max %d) returned %d jobs", max, len(jobs))
	}
	for i := range jobs {
		checkJob(t, fmt.Sprintf("ReserveBatch job %d", i), &jobs[i])
	}
	return jobs
}

// labels gives "payload#attempt" for each job.
func labels(jobs []flowmesh.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = fmt.Sprintf("%s#%d", j.Payload, j.Attempt)
	}
	return out
}

func wantLabels(t *testing.T, what string, jobs []flowmesh.Job, want ...string) {
	t.Helper()
	if got := labels(jobs); !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func receiptsOf(jobs []flowmesh.Job) []flowmesh.Receipt {
	out := make([]flowmesh.Receipt, len(jobs))
	for i, j := range jobs {
		out[i] = j.Receipt
	}
	return out
}

func ackBatch(t *testing.T, tg Target, q string, receipts []flowmesh.Receipt, opts ...flowmesh.CallOption) []error {
	t.Helper()
	errs, err := batcher(tg).AckBatch(testCtx(t), q, receipts, opts...)
	ok(t, "AckBatch", err)
	if len(errs) != len(receipts) {
		t.Fatalf("AckBatch of %d receipts returned %d results", len(receipts), len(errs))
	}
	return errs
}

func ackAll(t *testing.T, tg Target, q string, jobs []flowmesh.Job) {
	t.Helper()
	for i, err := range ackBatch(t, tg, q, receiptsOf(jobs)) {
		ok(t, fmt.Sprintf("AckBatch item %d", i), err)
	}
}

func testBatchEnqueue(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	id0, seq0 := enqueue(t, tg, q, "single", flowmesh.QueueEnqueueOptions{})
	res := enqueueBatch(t, tg, q, items("a", "b", "c", "d", "e"))
	ids := map[string]bool{id0: true}
	last := seq0
	for i, r := range res {
		if ids[r.JobID] {
			t.Errorf("item %d: job ID %q reused", i, r.JobID)
		}
		ids[r.JobID] = true
		if r.Seq <= last {
			t.Errorf("item %d: seq %d, previous %d; want increasing in batch order", i, r.Seq, last)
		}
		last = r.Seq
	}
	id, seq := enqueue(t, tg, q, "after", flowmesh.QueueEnqueueOptions{})
	if ids[id] || seq <= last {
		t.Errorf("Enqueue after a batch: job %s seq %d, want a new ID and a seq after %d", id, seq, last)
	}
	wantStats(t, tg, q, "after a batch of 5 and 2 single enqueues", 7, 0, 0, 0)
	// Job IDs of batches are unique across queues and batches.
	q2 := createQueue(t, tg, "q2").GetPath()
	for i, r := range enqueueBatch(t, tg, q2, items("x", "y")) {
		if ids[r.JobID] {
			t.Errorf("second queue item %d: job ID %q repeats one of the first queue", i, r.JobID)
		}
	}
}

func testBatchReserveFIFO(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	const vis = 5 * time.Minute
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	res := enqueueBatch(t, tg, q, items("b", "c", "d"))
	enqueue(t, tg, q, "e", flowmesh.QueueEnqueueOptions{})
	first := reserveBatch(t, tg, q, 3, vis)
	wantLabels(t, "first ReserveBatch(3)", first, "a#1", "b#1", "c#1")
	if first[1].ID != res[0].JobID || first[1].Seq != res[0].Seq {
		t.Errorf("second job reserved is %s seq %d, want the batch's first %s seq %d", first[1].ID, first[1].Seq, res[0].JobID, res[0].Seq)
	}
	for i, j := range first {
		if i > 0 && j.Seq <= first[i-1].Seq {
			t.Errorf("batch job %d seq %d after %d: want increasing", i, j.Seq, first[i-1].Seq)
		}
		if d := j.VisibleUntil.Sub(j.EnqueuedAt); d < vis {
			t.Errorf("batch job %d: VisibleUntil - EnqueuedAt = %v, want >= the visibility %v", i, d, vis)
		}
	}
	// A single Reserve continues where the batch stopped.
	reserveWant(t, tg, q, vis, "d", 1)
	wantLabels(t, "ReserveBatch of the rest", reserveBatch(t, tg, q, 10, vis), "e#1")
	wantStats(t, tg, q, "every job in flight", 0, 0, 5, 0)
	ackAll(t, tg, q, first)
	wantStats(t, tg, q, "after AckBatch of 3", 0, 0, 2, 0)
}

func testBatchReservePartial(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	if jobs := reserveBatch(t, tg, q, 10, time.Minute); len(jobs) != 0 {
		t.Fatalf("ReserveBatch on an empty queue returned %v", labels(jobs))
	}
	enqueueBatch(t, tg, q, items("a", "b"))
	wantLabels(t, "ReserveBatch(10) with 2 ready", reserveBatch(t, tg, q, 10, time.Minute), "a#1", "b#1")
	if jobs := reserveBatch(t, tg, q, 10, time.Minute); len(jobs) != 0 {
		t.Fatalf("ReserveBatch with every job in flight returned %v", labels(jobs))
	}
	wantStats(t, tg, q, "two in flight", 0, 0, 2, 0)
	// max 1 behaves like Reserve; the default visibility applies with 0.
	dq := createQueue(t, tg, "d", flowmesh.WithVisibilityTimeout(45*time.Second)).GetPath()
	enqueueBatch(t, tg, dq, items("x", "y"))
	jobs := reserveBatch(t, tg, dq, 1, 0)
	wantLabels(t, "ReserveBatch(1)", jobs, "x#1")
	if d := jobs[0].VisibleUntil.Sub(jobs[0].EnqueuedAt); d < 45*time.Second || d > 45*time.Second+30*time.Second {
		t.Errorf("ReserveBatch with visibility 0 on a queue with 45s default: reserved for %v after enqueue, want about 45s", d)
	}
	wantStats(t, tg, dq, "one of two reserved", 1, 0, 1, 0)
}

func testBatchReserveSkipsDelayed(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	jobs := []flowmesh.EnqueueItem{
		{Payload: []byte("late1"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: time.Hour}},
		{Payload: []byte("now1")},
		{Payload: []byte("late2"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: time.Hour}},
		{Payload: []byte("now2")},
	}
	enqueueBatch(t, tg, q, jobs)
	wantStats(t, tg, q, "two delayed, two ready", 2, 2, 0, 0)
	wantLabels(t, "ReserveBatch with delayed jobs first", reserveBatch(t, tg, q, 10, time.Minute), "now1#1", "now2#1")
	if got := reserveBatch(t, tg, q, 10, time.Minute); len(got) != 0 {
		t.Fatalf("ReserveBatch with only delayed jobs left returned %v", labels(got))
	}
	wantStats(t, tg, q, "delayed jobs left", 0, 2, 2, 0)
}

func testBatchReserveBytes(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	big := flowmesh.MaxBatchBytes * 4 / 10 // two fit in MaxBatchBytes, three do not
	enqueueBatch(t, tg, q, []flowmesh.EnqueueItem{{Payload: bytesOf(big, 'a')}, {Payload: bytesOf(big, 'b')}})
	enqueue(t, tg, q, string(bytesOf(big, 'c')), flowmesh.QueueEnqueueOptions{})
	jobs := reserveBatch(t, tg, q, 10, time.Minute)
	if len(jobs) != 2 || jobs[0].Payload[0] != 'a' || jobs[1].Payload[0] != 'b' || len(jobs[1].Payload) != big {
		t.Fatalf("ReserveBatch of 3 jobs of %d bytes returned %d jobs, want the first 2 (payloads within MaxBatchBytes %d)", big, len(jobs), flowmesh.MaxBatchBytes)
	}
	wantStats(t, tg, q, "third job left ready", 1, 0, 2, 0)
	jobs = reserveBatch(t, tg, q, 10, time.Minute)
	if len(jobs) != 1 || jobs[0].Payload[0] != 'c' {
		t.Fatalf("ReserveBatch of the last big job returned %d jobs", len(jobs))
	}
}

func testBatchAckPerItem(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueueBatch(t, tg, q, items("a", "b", "c", "d"))
	jobs := reserveBatch(t, tg, q, 4, time.Minute)
	wantLabels(t, "ReserveBatch", jobs, "a#1", "b#1", "c#1", "d#1")
	stale := flowmesh.Receipt{JobID: jobs[1].ID, Attempt: jobs[1].Attempt + 1}
	unknown := flowmesh.Receipt{JobID: "no-such-job", Attempt: 1}
	errs := ackBatch(t, tg, q, []flowmesh.Receipt{jobs[0].Receipt, stale, unknown, jobs[2].Receipt, jobs[0].Receipt})
	ok(t, "AckBatch item 0 (current receipt)", errs[0])
	// Each failing receipt fails as Ack would have, alone.
	wantErr(t, "AckBatch item 1 (receipt of a later attempt)", errs[1], flowmesh.ErrStaleReceipt)
	wantErr(t, "single Ack of the same receipt", tg.Queues.Ack(ctx, q, stale), flowmesh.ErrStaleReceipt)
	wantErr(t, "AckBatch item 2 (unknown job)", errs[2], flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	ok(t, "AckBatch item 3 (current receipt)", errs[3])
	wantErr(t, "AckBatch item 4 (a receipt acked earlier in the batch)", errs[4], flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after a partly failed AckBatch", 0, 0, 2, 0)
	// The jobs of the failed items are still held by their receipts.
	ok(t, "Ack of b with its current receipt", tg.Queues.Ack(ctx, q, jobs[1].Receipt))
	errs = ackBatch(t, tg, q, []flowmesh.Receipt{jobs[3].Receipt})
	ok(t, "AckBatch of d", errs[0])
	wantStats(t, tg, q, "every job acked", 0, 0, 0, 0)
	// A receipt is for its own queue.
	other := createQueue(t, tg, "other").GetPath()
	enqueue(t, tg, q, "e", flowmesh.QueueEnqueueOptions{})
	e := reserveBatch(t, tg, q, 1, time.Minute)
	errs = ackBatch(t, tg, other, receiptsOf(e))
	wantErr(t, "AckBatch on another queue", errs[0], flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after an AckBatch on another queue", 0, 0, 1, 0)
}

func testBatchDedup(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	d := func(p, id string) flowmesh.EnqueueItem {
		return flowmesh.EnqueueItem{Payload: []byte(p), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{DedupID: id}}
	}
	// A DedupID of a single Enqueue is seen by a batch, and the reverse.
	id1, seq1 := enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{DedupID: "d1"})
	res := enqueueBatch(t, tg, q, []flowmesh.EnqueueItem{d("a", "d1"), d("b", "d2"), d("c", ""), d("b", "d2"), d("c", "")})
	if res[0].JobID != id1 || res[0].Seq != seq1 {
		t.Errorf("batch item with single Enqueue's DedupID d1: %+v, want the original %s seq %d", res[0], id1, seq1)
	}
	if res[3] != res[1] {
		t.Errorf("repeat of DedupID d2 within a batch: %+v, want the first item's %+v", res[3], res[1])
	}
	if res[4] == res[2] || res[1] == res[2] {
		t.Errorf("items without a DedupID must be distinct jobs: %+v", res)
	}
	wantStats(t, tg, q, "after a batch with repeated DedupIDs", 4, 0, 0, 0)
	if id, seq := enqueue(t, tg, q, "b", flowmesh.QueueEnqueueOptions{DedupID: "d2"}); id != res[1].JobID || seq != res[1].Seq {
		t.Errorf("single Enqueue of the batch's DedupID d2: job %s seq %d, want %+v", id, seq, res[1])
	}
	// Within the window the repeat is absorbed even after the job is done.
	jobs := reserveBatch(t, tg, q, 10, time.Minute)
	ackAll(t, tg, q, jobs)
	again := enqueueBatch(t, tg, q, []flowmesh.EnqueueItem{d("b", "d2"), d("new", "d3")})
	if again[0] != res[1] {
		t.Errorf("repeat of DedupID d2 after ack: %+v, want the original %+v", again[0], res[1])
	}
	wantStats(t, tg, q, "after a repeat of an acked job's DedupID", 1, 0, 0, 0)
	// DedupIDs are per queue.
	q2 := createQueue(t, tg, "q2").GetPath()
	enqueueBatch(t, tg, q2, []flowmesh.EnqueueItem{d("a", "d1")})
	wantStats(t, tg, q2, "same DedupID on another queue", 1, 0, 0, 0)
}

func testBatchIdempotent(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	first := enqueueBatch(t, tg, q, items("a", "b", "c"), flowmesh.WithRequestID("eb-1"))
	again := enqueueBatch(t, tg, q, items("a", "b", "c"), flowmesh.WithRequestID("eb-1"))
	if !slices.Equal(first, again) {
		t.Errorf("retried EnqueueBatch = %+v, want the first answer %+v", again, first)
	}
	wantStats(t, tg, q, "after a retried EnqueueBatch", 3, 0, 0, 0)
	r1 := reserveBatch(t, tg, q, 2, time.Minute, flowmesh.WithRequestID("rb-1"))
	r2 := reserveBatch(t, tg, q, 2, time.Minute, flowmesh.WithRequestID("rb-1"))
	if !slices.Equal(receiptsOf(r1), receiptsOf(r2)) || len(r1) != 2 {
		t.Fatalf("retried ReserveBatch = %v, want the first answer %v", labels(r2), labels(r1))
	}
	wantStats(t, tg, q, "after a retried ReserveBatch", 1, 0, 2, 0)
	stale := flowmesh.Receipt{JobID: r1[1].ID, Attempt: 7}
	a1 := ackBatch(t, tg, q, []flowmesh.Receipt{r1[0].Receipt, stale}, flowmesh.WithRequestID("ab-1"))
	a2 := ackBatch(t, tg, q, []flowmesh.Receipt{r1[0].Receipt, stale}, flowmesh.WithRequestID("ab-1"))
	ok(t, "AckBatch item 0", a1[0])
	ok(t, "retried AckBatch item 0 (must not fail on its own success)", a2[0])
	wantErr(t, "AckBatch item 1", a1[1], flowmesh.ErrStaleReceipt)
	wantErr(t, "retried AckBatch item 1", a2[1], flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after a retried AckBatch", 1, 0, 1, 0)
}

func testBatchLimits(t *testing.T, tg Target) {
	ctx := testCtx(t)
	b := batcher(tg)
	q := createQueue(t, tg, "q").GetPath()
	small := createQueue(t, tg, "small", flowmesh.WithMaxPayload(100)).GetPath()

	_, err := b.EnqueueBatch(ctx, q, nil)
	wantInvalid(t, "EnqueueBatch of no jobs", err, "jobs")
	tooMany := make([]flowmesh.EnqueueItem, flowmesh.MaxQueueBatch+1)
	_, err = b.EnqueueBatch(ctx, q, tooMany)
	wantLimit(t, "EnqueueBatch over MaxQueueBatch", err)
	full := make([]flowmesh.EnqueueItem, flowmesh.MaxQueueBatch)
	for i := range full {
		full[i].Payload = []byte(fmt.Sprint(i))
	}
	if res, err := b.EnqueueBatch(ctx, q, full); err != nil || len(res) != flowmesh.MaxQueueBatch {
		t.Fatalf("EnqueueBatch of exactly MaxQueueBatch jobs: %d results, %v", len(res), err)
	}
	half := bytesOf(flowmesh.MaxBatchBytes/2+1, 'h')
	_, err = b.EnqueueBatch(ctx, q, []flowmesh.EnqueueItem{{Payload: half}, {Payload: half}})
	wantLimit(t, "EnqueueBatch over MaxBatchBytes", err)
	_, err = b.EnqueueBatch(ctx, q, []flowmesh.EnqueueItem{{Payload: []byte("ok")}, {Payload: []byte("x"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: -time.Second}}})
	wantInvalid(t, "EnqueueBatch with a negative delay in item 1", err, "")
	if ie := (*flowmesh.InvalidArgumentError)(nil); errors.As(err, &ie) && !strings.Contains(ie.Field, "delay") {
		t.Errorf("EnqueueBatch with a bad delay: field %q, want one naming the delay", ie.Field)
	}
	_, err = b.EnqueueBatch(ctx, q, []flowmesh.EnqueueItem{{Payload: []byte("x"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{DedupID: strings.Repeat("d", flowmesh.MaxRequestIDLen+1)}}})
	wantErr(t, "EnqueueBatch with a DedupID over MaxRequestIDLen", err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	// The queue's own payload limit; a batch is all or nothing.
	_, err = b.EnqueueBatch(ctx, small, []flowmesh.EnqueueItem{{Payload: bytesOf(100, 'a')}, {Payload: bytesOf(101, 'a')}})
	wantLimit(t, "EnqueueBatch with an item over the queue's MaxPayload", err)
	wantStats(t, tg, small, "after a refused batch", 0, 0, 0, 0)
	wantStats(t, tg, q, "after refused batches", flowmesh.MaxQueueBatch, 0, 0, 0)

	for _, max := range []int{0, -1, flowmesh.MaxQueueBatch + 1} {
		_, err := b.ReserveBatch(ctx, q, max, time.Minute)
		wantInvalid(t, fmt.Sprintf("ReserveBatch with max %d", max), err, "max")
		_, err = b.ReserveBatchWait(ctx, q, max, time.Minute, 10*time.Millisecond)
		wantInvalid(t, fmt.Sprintf("ReserveBatchWait with max %d", max), err, "max")
	}
	for _, vis := range []time.Duration{-time.Second, flowmesh.MaxVisibility + time.Second} {
		_, err := b.ReserveBatch(ctx, q, 1, vis)
		wantErr(t, fmt.Sprintf("ReserveBatch with visibility %v", vis), err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	}
	wantStats(t, tg, q, "after refused reservations", flowmesh.MaxQueueBatch, 0, 0, 0)
	jobs := reserveBatch(t, tg, q, flowmesh.MaxQueueBatch, time.Minute)
	if len(jobs) != flowmesh.MaxQueueBatch {
		t.Fatalf("ReserveBatch(MaxQueueBatch) returned %d jobs, want %d", len(jobs), flowmesh.MaxQueueBatch)
	}

	_, err = b.AckBatch(ctx, q, nil)
	wantInvalid(t, "AckBatch of no receipts", err, "receipts")
	_, err = b.AckBatch(ctx, q, append(receiptsOf(jobs), jobs[0].Receipt))
	wantLimit(t, "AckBatch over MaxQueueBatch", err)
	_, err = b.AckBatch(ctx, q, []flowmesh.Receipt{jobs[0].Receipt, {JobID: jobs[1].ID}})
	wantErr(t, "AckBatch with a receipt of attempt 0", err, flowmesh.ErrInvalidArgument)
	_, err = b.AckBatch(ctx, q, []flowmesh.Receipt{jobs[0].Receipt, {Attempt: 1}})
	wantErr(t, "AckBatch with an empty job ID", err, flowmesh.ErrInvalidArgument)
	wantStats(t, tg, q, "after refused AckBatches", 0, 0, flowmesh.MaxQueueBatch, 0)
	ackAll(t, tg, q, jobs)
	wantStats(t, tg, q, "after AckBatch of MaxQueueBatch", 0, 0, 0, 0)

	tenant, ns := scope(t)
	missing := flowmesh.JoinPath(tenant, ns, "missing")
	_, err = b.EnqueueBatch(ctx, missing, items("a"))
	wantErr(t, "EnqueueBatch on a missing queue", err, flowmesh.ErrNotFound)
	_, err = b.ReserveBatch(ctx, missing, 1, time.Minute)
	wantErr(t, "ReserveBatch on a missing queue", err, flowmesh.ErrNotFound)
	_, err = b.AckBatch(ctx, missing, []flowmesh.Receipt{{JobID: "1", Attempt: 1}})
	wantErr(t, "AckBatch on a missing queue", err, flowmesh.ErrNotFound)
	_, err = b.ReserveBatch(ctx, "not a path", 1, time.Minute)
	wantInvalid(t, "ReserveBatch with a bad path", err, "")
}

func testBatchReserveWait(t *testing.T, tg Target) {
	ctx := testCtx(t)
	b := batcher(tg)
	q := createQueue(t, tg, "q").GetPath()
	for _, bad := range []time.Duration{-time.Second, flowmesh.MaxReserveWait + time.Second} {
		_, err := b.ReserveBatchWait(ctx, q, 10, time.Minute, bad)
		wantErr(t, fmt.Sprintf("ReserveBatchWait with wait %v", bad), err, flowmesh.ErrInvalidArgument)
	}
	const wait = 300 * time.Millisecond
	start := time.Now()
	jobs, err := b.ReserveBatchWait(ctx, q, 10, time.Minute, wait)
	elapsed := time.Since(start)
	ok(t, "ReserveBatchWait on an empty queue", err)
	if len(jobs) != 0 {
		t.Fatalf("ReserveBatchWait on an empty queue returned %v", labels(jobs))
	}
	if elapsed < wait/2 || elapsed > settleTimeout {
		t.Errorf("ReserveBatchWait(%v) on an empty queue returned after %v, want about %v", wait, elapsed, wait)
	}
	type result struct {
		jobs []flowmesh.Job
		err  error
		at   time.Duration
	}
	done := make(chan result, 1)
	start = time.Now()
	go func() {
		j, err := b.ReserveBatchWait(ctx, q, 10, time.Minute, settleTimeout)
		done <- result{j, err, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	enqueueBatch(t, tg, q, items("x", "y"))
	select {
	case r := <-done:
		ok(t, "ReserveBatchWait while jobs are enqueued", r.err)
		wantLabels(t, "ReserveBatchWait", r.jobs, "x#1", "y#1")
		if r.at >= settleTimeout {
			t.Errorf("ReserveBatchWait returned after %v, at the end of its wait; want soon after the enqueue", r.at)
		}
	case <-time.After(2 * settleTimeout):
		t.Fatalf("ReserveBatchWait did not return within %v", 2*settleTimeout)
	}
	enqueue(t, tg, q, "ready", flowmesh.QueueEnqueueOptions{})
	start = time.Now()
	jobs, err = b.ReserveBatchWait(ctx, q, 10, time.Minute, settleTimeout)
	ok(t, "ReserveBatchWait with a ready job", err)
	wantLabels(t, "ReserveBatchWait with a ready job", jobs, "ready#1")
	if d := time.Since(start); d > settleTimeout/2 {
		t.Errorf("ReserveBatchWait with a ready job took %v", d)
	}
}

func testBatchConcurrentWorkers(t *testing.T, tg Target) {
	ctx := testCtx(t)
	b := batcher(tg)
	q := createQueue(t, tg, "q").GetPath()
	const batches, per, workers = 8, 10, 4
	for i := range batches {
		var its []flowmesh.EnqueueItem
		for j := range per {
			its = append(its, flowmesh.EnqueueItem{Payload: []byte(fmt.Sprint(i*per + j))})
		}
		enqueueBatch(t, tg, q, its)
	}
	var mu sync.Mutex
	got := map[string]int{}
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				jobs, err := b.ReserveBatch(ctx, q, 7, time.Minute)
				var itemErrs []error
				if err == nil && len(jobs) > 0 {
					itemErrs, err = b.AckBatch(ctx, q, receiptsOf(jobs))
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, e := range itemErrs {
					if e != nil {
						errs = append(errs, e)
					}
				}
				for _, j := range jobs {
					got[string(j.Payload)]++
				}
				mu.Unlock()
				if err != nil || len(jobs) == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent ReserveBatch/AckBatch: %v", err)
	}
	for i := range batches * per {
		if n := got[fmt.Sprint(i)]; n != 1 {
			t.Errorf("job %d reserved %d times by concurrent batch workers, want exactly once", i, n)
		}
	}
	wantStats(t, tg, q, "after concurrent batch workers", 0, 0, 0, 0)
}

// reserveBatchEventually polls ReserveBatch until it returns a job.
func reserveBatchEventually(t *testing.T, tg Target, q string, max int, visibility time.Duration) []flowmesh.Job {
	t.Helper()
	var jobs []flowmesh.Job
	eventually(t, settleTimeout, "jobs become reservable", func() error {
		jobs = reserveBatch(t, tg, q, max, visibility)
		if len(jobs) == 0 {
			return fmt.Errorf("ReserveBatch returned no job")
		}
		return nil
	})
	return jobs
}

func testBatchDelayElapses(t *testing.T, tg Target) {
	needClock(t, tg)
	q := createQueue(t, tg, "q").GetPath()
	enqueueBatch(t, tg, q, []flowmesh.EnqueueItem{
		{Payload: []byte("1m"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: time.Minute}},
		{Payload: []byte("2m"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: 2 * time.Minute}},
		{Payload: []byte("30s"), QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: 30 * time.Second}},
	})
	if jobs := reserveBatch(t, tg, q, 10, time.Hour); len(jobs) != 0 {
		t.Fatalf("ReserveBatch before any delay passed returned %v", labels(jobs))
	}
	advance(t, tg, 61*time.Second)
	// Two delays passed: both come in sequence order, the third stays delayed.
	wantLabels(t, "ReserveBatch after 61s", reserveBatchEventually(t, tg, q, 10, time.Hour), "1m#1", "30s#1")
	wantStats(t, tg, q, "one delay left", 0, 1, 2, 0)
}

func testBatchVisibilityExpiry(t *testing.T, tg Target) {
	needClock(t, tg)
	q := createQueue(t, tg, "q").GetPath()
	enqueueBatch(t, tg, q, items("a", "b", "c"))
	first := reserveBatch(t, tg, q, 3, 10*time.Second)
	wantLabels(t, "first ReserveBatch", first, "a#1", "b#1", "c#1")
	ok(t, "AckBatch of b", ackBatch(t, tg, q, []flowmesh.Receipt{first[1].Receipt})[0])
	if jobs := reserveBatch(t, tg, q, 10, time.Minute); len(jobs) != 0 {
		t.Fatalf("ReserveBatch within the visibility timeout returned %v", labels(jobs))
	}
	advance(t, tg, 11*time.Second)
	second := reserveBatchEventually(t, tg, q, 10, time.Minute)
	wantLabels(t, "ReserveBatch after the reservations expired", second, "a#2", "c#2")
	for i, j := range second {
		if j.Receipt == first[2*i].Receipt || !j.VisibleUntil.After(first[2*i].VisibleUntil) {
			t.Errorf("redelivery %d: receipt %+v until %v, want a new receipt and a later VisibleUntil than %+v until %v", i, j.Receipt, j.VisibleUntil, first[2*i].Receipt, first[2*i].VisibleUntil)
		}
	}
	// The first holders' receipts are stale; the current ones still ack.
	errs := ackBatch(t, tg, q, []flowmesh.Receipt{first[0].Receipt, second[0].Receipt, first[2].Receipt})
	wantErr(t, "AckBatch with a's expired receipt", errs[0], flowmesh.ErrStaleReceipt)
	ok(t, "AckBatch with a's current receipt", errs[1])
	wantErr(t, "AckBatch with c's expired receipt", errs[2], flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "c still held by its second reservation", 0, 0, 1, 0)
	ok(t, "AckBatch with c's current receipt", ackBatch(t, tg, q, []flowmesh.Receipt{second[1].Receipt})[0])
	wantStats(t, tg, q, "after acks", 0, 0, 0, 0)
}

func testBatchDeadLetter(t *testing.T, tg Target) {
	needClock(t, tg)
	dlq := createQueue(t, tg, "dlq").GetPath()
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(2), flowmesh.WithVisibilityTimeout(10*time.Second), flowmesh.WithDeadLetterQueue(dlq)).GetPath()
	enqueueBatch(t, tg, q, items("p1", "p2", "p3"))
	wantLabels(t, "first reservations", reserveBatch(t, tg, q, 3, 0), "p1#1", "p2#1", "p3#1")
	advance(t, tg, 11*time.Second)
	second := reserveBatchEventually(t, tg, q, 2, 0)
	wantLabels(t, "second reservations", second, "p1#2", "p2#2")
	ackAll(t, tg, q, second[1:])
	advance(t, tg, 11*time.Second)
	// p1's last allowed reservation expired: a batch reserve must not hand it
	// out again (it goes to the dead-letter queue); p3 is on attempt 2.
	eventually(t, settleTimeout, "p1 moves to the dead-letter queue", func() error {
		jobs := reserveBatch(t, tg, q, 10, 0)
		for _, j := range jobs {
			if string(j.Payload) == "p1" {
				t.Fatalf("ReserveBatch after MaxAttempts reservations returned p1 attempt %d", j.Attempt)
			}
		}
		if st := stats(t, tg, dlq); st.Ready != 1 {
			return fmt.Errorf("dead-letter queue Stats = %+v", st)
		}
		return nil
	})
	moved := reserveBatch(t, tg, dlq, 10, time.Minute)
	wantLabels(t, "ReserveBatch of the dead-letter queue", moved, "p1#1")
	ackAll(t, tg, dlq, moved)
}

func testBatchDead(t *testing.T, tg Target) {
	needClock(t, tg)
	ctx := testCtx(t)
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(1), flowmesh.WithVisibilityTimeout(10*time.Second)).GetPath()
	res := enqueueBatch(t, tg, q, items("a", "b"))
	reserveBatch(t, tg, q, 2, 0)
	enqueue(t, tg, q, "fine", flowmesh.QueueEnqueueOptions{})
	advance(t, tg, 11*time.Second)
	jobs := reserveBatchEventually(t, tg, q, 10, 0)
	wantLabels(t, "ReserveBatch after the only allowed reservations expired", jobs, "fine#1")
	wantStats(t, tg, q, "two dead, one in flight", 0, 0, 1, 2)
	dead, err := tg.Queues.ListDead(ctx, q, 10)
	ok(t, "ListDead", err)
	if len(dead) != 2 || dead[0].ID != res[0].JobID || dead[1].ID != res[1].JobID {
		t.Errorf("ListDead = %+v, want jobs %s and %s", dead, res[0].JobID, res[1].JobID)
	}
}
