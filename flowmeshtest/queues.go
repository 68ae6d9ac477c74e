package flowmeshtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

var queueTests = []subtest{
	{"Enqueue", testQueueEnqueue},
	{"FIFO", testQueueFIFO},
	{"ReserveEmpty", testQueueReserveEmpty},
	{"DefaultVisibility", testQueueDefaultVisibility},
	{"Delay", testQueueDelay},
	{"Receipts", testQueueReceipts},
	{"RemoveFromInFlight", testQueueRemoveFromInFlight},
	{"Nack", testQueueNack},
	{"DeadAfterMaxAttempts", testQueueDeadAfterMaxAttempts},
	{"DeadLetterQueue", testQueueDeadLetterQueue},
	{"Redrive", testQueueRedrive},
	{"Stats", testQueueStats},
	{"Purge", testQueuePurge},
	{"Dedup", testQueueDedup},
	{"IdempotentCalls", testQueueIdempotentCalls},
	{"PayloadLimit", testQueuePayloadLimit},
	{"BadArguments", testQueueBadArguments},
	{"ReserveWait", testQueueReserveWait},
	{"ConcurrentReserve", testQueueConcurrentReserve},
	{"ConcurrentEnqueue", testQueueConcurrentEnqueue},
	{"ReserveWaitCancel", testQueueReserveWaitCancel},
	// Time-dependent: they move the node's clock.
	{"DelayElapses", testQueueDelayElapses},
	{"VisibilityExpiry", testQueueVisibilityExpiry},
	{"RemoveFromInFlightStale", testQueueRemoveFromInFlightStale},
	{"NackDelayElapses", testQueueNackDelayElapses},
	{"Touch", testQueueTouch},
	{"DeadAfterExpiries", testQueueDeadAfterExpiries},
	{"OldestReadyAge", testQueueOldestReadyAge},
}

func enqueue(t *testing.T, tg Target, q string, payload string, opts flowmesh.QueueEnqueueOptions, callOpts ...flowmesh.CallOption) (string, uint64) {
	t.Helper()
	id, seq, err := tg.Queues.Enqueue(testCtx(t), q, []byte(payload), opts, callOpts...)
	ok(t, "Enqueue "+payload, err)
	if id == "" {
		t.Fatalf("Enqueue %s: empty job ID", payload)
	}
	return id, seq
}

// reserve returns the next job or nil.
func reserve(t *testing.T, tg Target, q string, visibility time.Duration) *flowmesh.Job {
	t.Helper()
	job, err := tg.Queues.Reserve(testCtx(t), q, visibility)
	ok(t, "Reserve", err)
	if job != nil {
		checkJob(t, "Reserve", job)
	}
	return job
}

// reserveWant reserves the next job and checks its payload and attempt.
func reserveWant(t *testing.T, tg Target, q string, visibility time.Duration, payload string, attempt int) *flowmesh.Job {
	t.Helper()
	job := reserve(t, tg, q, visibility)
	if job == nil {
		t.Fatalf("Reserve: got no job, want %q (attempt %d)", payload, attempt)
	}
	if string(job.Payload) != payload || job.Attempt != attempt {
		t.Fatalf("Reserve: got %q attempt %d, want %q attempt %d", job.Payload, job.Attempt, payload, attempt)
	}
	return job
}

func reserveNone(t *testing.T, tg Target, q, when string) {
	t.Helper()
	if job := reserve(t, tg, q, time.Minute); job != nil {
		t.Fatalf("%s: Reserve returned %q (attempt %d), want no job", when, job.Payload, job.Attempt)
	}
}

// reserveEventually polls Reserve until it returns a job. Time-based
// readiness may be decided by a leader-proposed command after the clock moved.
func reserveEventually(t *testing.T, tg Target, q string, visibility time.Duration, payload string, attempt int) *flowmesh.Job {
	t.Helper()
	var job *flowmesh.Job
	eventually(t, settleTimeout, fmt.Sprintf("job %q becomes reservable", payload), func() error {
		job = reserve(t, tg, q, visibility)
		if job == nil {
			return fmt.Errorf("Reserve returned no job")
		}
		return nil
	})
	if string(job.Payload) != payload || job.Attempt != attempt {
		t.Fatalf("Reserve: got %q attempt %d, want %q attempt %d", job.Payload, job.Attempt, payload, attempt)
	}
	return job
}

func checkJob(t *testing.T, op string, job *flowmesh.Job) {
	t.Helper()
	if job.ID == "" {
		t.Errorf("%s: job has an empty ID", op)
	}
	if job.ID != flowmesh.ReservationID(job.Receipt) || job.Receipt.Attempt != job.Attempt {
		t.Errorf("%s: job %s attempt %d has receipt %+v, want the receipt of this reservation (ReservationID %q)", op, job.ID, job.Attempt, job.Receipt, flowmesh.ReservationID(job.Receipt))
	}
	if job.Attempt < 1 {
		t.Errorf("%s: job %s has Attempt %d, want >= 1", op, job.ID, job.Attempt)
	}
	if job.EnqueuedAt.IsZero() {
		t.Errorf("%s: job %s has a zero EnqueuedAt", op, job.ID)
	}
	if !job.VisibleUntil.After(job.EnqueuedAt) {
		t.Errorf("%s: job %s VisibleUntil %v is not after EnqueuedAt %v", op, job.ID, job.VisibleUntil, job.EnqueuedAt)
	}
}

func stats(t *testing.T, tg Target, q string) flowmesh.QueueStats {
	t.Helper()
	st, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	if st.OldestReadyAge < 0 || (st.Ready == 0 && st.OldestReadyAge != 0) {
		t.Errorf("Stats: OldestReadyAge %v with %d ready, want >= 0, and 0 when none is ready", st.OldestReadyAge, st.Ready)
	}
	return st
}

// wantStats compares the counts (not OldestReadyAge).
func wantStats(t *testing.T, tg Target, q, when string, ready, delayed, inFlight, dead int) {
	t.Helper()
	got := stats(t, tg, q)
	got.OldestReadyAge = 0
	want := flowmesh.QueueStats{Ready: ready, Delayed: delayed, InFlight: inFlight, Dead: dead}
	if got != want {
		t.Errorf("%s: Stats = %+v, want %+v", when, got, want)
	}
}

// statsEventually polls Stats until its counts equal want's.
func statsEventually(t *testing.T, tg Target, q, when string, want flowmesh.QueueStats) {
	t.Helper()
	eventually(t, settleTimeout, when+": Stats", func() error {
		got := stats(t, tg, q)
		got.OldestReadyAge, want.OldestReadyAge = 0, 0
		if got != want {
			return fmt.Errorf("Stats = %+v, want %+v", got, want)
		}
		return nil
	})
}

func testQueueEnqueue(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	ids := map[string]bool{}
	var last uint64
	for i := range 5 {
		id, seq := enqueue(t, tg, q, fmt.Sprint(i), flowmesh.QueueEnqueueOptions{})
		if ids[id] {
			t.Errorf("Enqueue %d: job ID %q reused", i, id)
		}
		ids[id] = true
		if i > 0 && seq <= last {
			t.Errorf("Enqueue %d: seq %d, previous %d; want increasing", i, seq, last)
		}
		last = seq
	}
	wantStats(t, tg, q, "after 5 enqueues", 5, 0, 0, 0)
	// Job IDs are unique across queues too, as receipts name jobs by ID.
	q2 := createQueue(t, tg, "q2").GetPath()
	id, _ := enqueue(t, tg, q2, "x", flowmesh.QueueEnqueueOptions{})
	if ids[id] {
		t.Errorf("job ID %q of another queue repeats one of the first queue", id)
	}
}

func testQueueFIFO(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	const vis = 5 * time.Minute
	type enq struct {
		id  string
		seq uint64
	}
	var want []enq
	for _, p := range []string{"a", "b", "c", "d"} {
		id, seq := enqueue(t, tg, q, p, flowmesh.QueueEnqueueOptions{})
		want = append(want, enq{id, seq})
	}
	for i, p := range []string{"a", "b", "c", "d"} {
		job := reserveWant(t, tg, q, vis, p, 1)
		if job.ID != want[i].id || job.Seq != want[i].seq {
			t.Errorf("reservation %d: job %s seq %d, want %s seq %d", i, job.ID, job.Seq, want[i].id, want[i].seq)
		}
		if d := job.VisibleUntil.Sub(job.EnqueuedAt); d < vis {
			t.Errorf("reservation %d: VisibleUntil - EnqueuedAt = %v, want >= the visibility %v", i, d, vis)
		}
	}
	reserveNone(t, tg, q, "every job in flight")
	wantStats(t, tg, q, "every job in flight", 0, 0, 4, 0)
	// Later enqueues queue up behind; order holds across interleaving.
	enqueue(t, tg, q, "e", flowmesh.QueueEnqueueOptions{})
	enqueue(t, tg, q, "f", flowmesh.QueueEnqueueOptions{})
	reserveWant(t, tg, q, vis, "e", 1)
	enqueue(t, tg, q, "g", flowmesh.QueueEnqueueOptions{})
	reserveWant(t, tg, q, vis, "f", 1)
	reserveWant(t, tg, q, vis, "g", 1)
}

func testQueueReserveEmpty(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	reserveNone(t, tg, q, "empty queue")
	job, err := tg.Queues.ReserveWait(testCtx(t), q, time.Minute, 50*time.Millisecond)
	ok(t, "ReserveWait on an empty queue", err)
	if job != nil {
		t.Errorf("ReserveWait on an empty queue returned %q", job.Payload)
	}
	wantStats(t, tg, q, "empty queue", 0, 0, 0, 0)
}

func testQueueDefaultVisibility(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q", flowmesh.WithVisibilityTimeout(45*time.Second)).GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, 0, "a", 1)
	if d := job.VisibleUntil.Sub(job.EnqueuedAt); d < 45*time.Second || d > 45*time.Second+30*time.Second {
		t.Errorf("Reserve with visibility 0 on a queue with 45s default: reserved for %v after enqueue, want about 45s", d)
	}
	d := createQueue(t, tg, "d").GetPath()
	enqueue(t, tg, d, "b", flowmesh.QueueEnqueueOptions{})
	job = reserveWant(t, tg, d, 0, "b", 1)
	if got := job.VisibleUntil.Sub(job.EnqueuedAt); got < flowmesh.DefaultVisibilityTimeout || got > flowmesh.DefaultVisibilityTimeout+30*time.Second {
		t.Errorf("Reserve with visibility 0 on a default queue: reserved for %v after enqueue, want about %v", got, flowmesh.DefaultVisibilityTimeout)
	}
}

func testQueueDelay(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "late", flowmesh.QueueEnqueueOptions{Delay: time.Hour})
	enqueue(t, tg, q, "now", flowmesh.QueueEnqueueOptions{})
	wantStats(t, tg, q, "one delayed, one ready", 1, 1, 0, 0)
	// The delayed job comes first by sequence but is not ready.
	reserveWant(t, tg, q, time.Minute, "now", 1)
	reserveNone(t, tg, q, "only a delayed job left")
	wantStats(t, tg, q, "delayed job and one in flight", 0, 1, 1, 0)
}

func testQueueReceipts(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	id, _ := enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, time.Minute, "a", 1)
	if job.ID != id {
		t.Fatalf("reserved job %s, enqueued %s", job.ID, id)
	}
	qm := tg.Queues
	wrongAttempt := flowmesh.Receipt{JobID: job.ID, Attempt: job.Attempt + 1}
	wantErr(t, "Ack with a receipt of a later attempt", qm.Ack(ctx, q, wrongAttempt), flowmesh.ErrStaleReceipt)
	wantErr(t, "Nack with a receipt of a later attempt", qm.Nack(ctx, q, wrongAttempt, 0), flowmesh.ErrStaleReceipt)
	wantErr(t, "Touch with a receipt of a later attempt", qm.Touch(ctx, q, wrongAttempt, time.Minute), flowmesh.ErrStaleReceipt)
	unknown := flowmesh.Receipt{JobID: "no-such-job", Attempt: 1}
	wantErr(t, "Ack of an unknown job", qm.Ack(ctx, q, unknown), flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	wantErr(t, "Ack with an empty receipt", qm.Ack(ctx, q, flowmesh.Receipt{}), flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after refused receipts", 0, 0, 1, 0)
	// A receipt is for its own queue.
	other := createQueue(t, tg, "other").GetPath()
	wantErr(t, "Ack on another queue", qm.Ack(ctx, other, job.Receipt), flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after an ack on another queue", 0, 0, 1, 0)

	ok(t, "Ack with the current receipt", qm.Ack(ctx, q, job.Receipt))
	wantStats(t, tg, q, "after ack", 0, 0, 0, 0)
	reserveNone(t, tg, q, "acked job")
}

func testQueueRemoveFromInFlight(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	idB, _ := enqueue(t, tg, q, "b", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, time.Minute, "a", 1)
	ok(t, "RemoveFromInFlight", tg.Queues.RemoveFromInFlight(ctx, q, job.ID))
	wantStats(t, tg, q, "after RemoveFromInFlight", 1, 0, 0, 0)
	wantErr(t, "Ack after RemoveFromInFlight", tg.Queues.Ack(ctx, q, job.Receipt), flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	// A ready job is not in flight; an unknown one does not exist.
	wantErr(t, "RemoveFromInFlight of a ready job", tg.Queues.RemoveFromInFlight(ctx, q, idB), flowmesh.ErrNotFound, flowmesh.ErrStaleReceipt)
	wantErr(t, "RemoveFromInFlight of an unknown job", tg.Queues.RemoveFromInFlight(ctx, q, "no-such-job"), flowmesh.ErrNotFound)
	wantStats(t, tg, q, "after refused removals", 1, 0, 0, 0)
	reserveWant(t, tg, q, time.Minute, "b", 1)
	reserveNone(t, tg, q, "a removed, b in flight")
}

func testQueueNack(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	enqueue(t, tg, q, "b", flowmesh.QueueEnqueueOptions{})
	first := reserveWant(t, tg, q, time.Minute, "a", 1)
	ok(t, "Nack", tg.Queues.Nack(ctx, q, first.Receipt, 0))
	wantStats(t, tg, q, "after Nack without delay", 2, 0, 0, 0)
	// Ready again at once, and still ahead of b by sequence.
	second := reserveWant(t, tg, q, time.Minute, "a", 2)
	if second.Receipt.JobID != first.Receipt.JobID || second.Seq != first.Seq || second.Receipt == first.Receipt {
		t.Errorf("after Nack: reserved %s seq %d receipt %+v, want job %s seq %d with a new receipt", second.ID, second.Seq, second.Receipt, first.Receipt.JobID, first.Seq)
	}
	wantErr(t, "Nack with the first receipt", tg.Queues.Nack(ctx, q, first.Receipt, 0), flowmesh.ErrStaleReceipt)
	wantErr(t, "Ack with the first receipt", tg.Queues.Ack(ctx, q, first.Receipt), flowmesh.ErrStaleReceipt)
	ok(t, "Nack with a delay", tg.Queues.Nack(ctx, q, second.Receipt, time.Hour))
	wantStats(t, tg, q, "after Nack with a delay", 1, 1, 0, 0)
	reserveWant(t, tg, q, time.Minute, "b", 1)
	reserveNone(t, tg, q, "a delayed by Nack")
}

// exhaust reserves and nacks until Reserve returns nothing, for at most n
// rounds, and returns the payloads it reserved.
func exhaust(t *testing.T, tg Target, q string, n int) []string {
	t.Helper()
	var got []string
	for range n {
		job := reserve(t, tg, q, time.Minute)
		if job == nil {
			return got
		}
		got = append(got, fmt.Sprintf("%s#%d", job.Payload, job.Attempt))
		ok(t, "Nack", tg.Queues.Nack(testCtx(t), q, job.Receipt, 0))
	}
	t.Fatalf("queue still had ready jobs after %d reserve+nack rounds: %v", n, got)
	return nil
}

func testQueueDeadAfterMaxAttempts(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(2)).GetPath()
	id, seq := enqueue(t, tg, q, "poison", flowmesh.QueueEnqueueOptions{})
	if got, want := exhaust(t, tg, q, 10), []string{"poison#1", "poison#2"}; !slices.Equal(got, want) {
		t.Errorf("reservations of a job with MaxAttempts 2 = %v, want %v", got, want)
	}
	wantStats(t, tg, q, "job past MaxAttempts", 0, 0, 0, 1)
	dead, err := tg.Queues.ListDead(ctx, q, 10)
	ok(t, "ListDead", err)
	if len(dead) != 1 || dead[0].ID != id || dead[0].Seq != seq || string(dead[0].Payload) != "poison" {
		t.Fatalf("ListDead = %+v, want job %s seq %d %q", dead, id, seq, "poison")
	}
	if dead[0].Attempt != 2 {
		t.Errorf("dead job Attempt = %d, want 2 (its reservations)", dead[0].Attempt)
	}
	// Other jobs flow past the dead one.
	enqueue(t, tg, q, "fine", flowmesh.QueueEnqueueOptions{})
	reserveWant(t, tg, q, time.Minute, "fine", 1)
	n, err := tg.Queues.Redrive(ctx, q, 0)
	ok(t, "Redrive", err)
	if n != 1 {
		t.Errorf("Redrive = %d, want 1", n)
	}
	wantStats(t, tg, q, "after Redrive", 1, 0, 1, 0)
	job := reserve(t, tg, q, time.Minute)
	if job == nil || job.ID != id || string(job.Payload) != "poison" {
		t.Fatalf("after Redrive: Reserve = %+v, want the redriven job %s", job, id)
	}
	ok(t, "Ack of the redriven job", tg.Queues.Ack(ctx, q, job.Receipt))
}

func testQueueDeadLetterQueue(t *testing.T, tg Target) {
	ctx := testCtx(t)
	dlq := createQueue(t, tg, "dlq").GetPath()
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(1), flowmesh.WithDeadLetterQueue(dlq)).GetPath()
	enqueue(t, tg, q, "poison", flowmesh.QueueEnqueueOptions{})
	enqueue(t, tg, q, "fine", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, time.Minute, "poison", 1)
	ok(t, "Nack", tg.Queues.Nack(ctx, q, job.Receipt, 0))
	reserveWant(t, tg, q, time.Minute, "fine", 1)
	reserveNone(t, tg, q, "poison job moved to the dead-letter queue")
	wantStats(t, tg, q, "source queue", 0, 0, 1, 0)
	dead, err := tg.Queues.ListDead(ctx, q, 10)
	ok(t, "ListDead of the source queue", err)
	if len(dead) != 0 {
		t.Errorf("source queue ListDead = %d jobs, want 0: dead jobs went to the dead-letter queue", len(dead))
	}
	wantStats(t, tg, dlq, "dead-letter queue", 1, 0, 0, 0)
	moved := reserveWant(t, tg, dlq, time.Minute, "poison", 1)
	ok(t, "Ack in the dead-letter queue", tg.Queues.Ack(ctx, dlq, moved.Receipt))
	wantStats(t, tg, dlq, "dead-letter queue after ack", 0, 0, 0, 0)
}

func testQueueRedrive(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(1)).GetPath()
	ids := map[string]string{}
	for _, p := range []string{"a", "b", "c"} {
		id, _ := enqueue(t, tg, q, p, flowmesh.QueueEnqueueOptions{})
		ids[id] = p
	}
	if got, want := exhaust(t, tg, q, 10), []string{"a#1", "b#1", "c#1"}; !slices.Equal(got, want) {
		t.Errorf("reservations with MaxAttempts 1 = %v, want %v", got, want)
	}
	wantStats(t, tg, q, "three dead", 0, 0, 0, 3)
	all, err := tg.Queues.ListDead(ctx, q, 10)
	ok(t, "ListDead", err)
	var got []string
	for _, j := range all {
		got = append(got, ids[j.ID])
		if ids[j.ID] != string(j.Payload) {
			t.Errorf("ListDead: job %s payload %q, want %q", j.ID, j.Payload, ids[j.ID])
		}
	}
	slices.Sort(got)
	if want := []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("ListDead = %v, want %v", got, want)
	}
	if all, err := tg.Queues.ListDead(ctx, q, 0); err != nil {
		wantErr(t, "ListDead with limit 0", err, flowmesh.ErrInvalidArgument)
	} else if len(all) != 3 {
		t.Errorf("ListDead with limit 0 = %d jobs with no error, want all 3 (0 = up to MaxReadMessages) or ErrInvalidArgument", len(all))
	}
	some, err := tg.Queues.ListDead(ctx, q, 2)
	ok(t, "ListDead with limit 2", err)
	if len(some) != 2 {
		t.Errorf("ListDead with limit 2 = %d jobs, want 2", len(some))
	}
	n, err := tg.Queues.Redrive(ctx, q, 1)
	ok(t, "Redrive 1", err)
	if n != 1 {
		t.Errorf("Redrive(1) = %d, want 1", n)
	}
	wantStats(t, tg, q, "after Redrive(1)", 1, 0, 0, 2)
	n, err = tg.Queues.Redrive(ctx, q, 0)
	ok(t, "Redrive all", err)
	if n != 2 {
		t.Errorf("Redrive(0) = %d, want 2", n)
	}
	wantStats(t, tg, q, "after Redrive(0)", 3, 0, 0, 0)
	var order []string
	for range 3 {
		job := reserve(t, tg, q, time.Minute)
		if job == nil {
			t.Fatalf("after Redrive: reserved %v, then no job; want a, b and c", order)
		}
		order = append(order, string(job.Payload))
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(order, want) {
		t.Errorf("redriven jobs reserved in order %v, want %v (enqueue sequence)", order, want)
	}
	n, err = tg.Queues.Redrive(ctx, q, 0)
	ok(t, "Redrive with no dead jobs", err)
	if n != 0 {
		t.Errorf("Redrive with no dead jobs = %d, want 0", n)
	}
}

func testQueueStats(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(1)).GetPath()
	enqueue(t, tg, q, "dead", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, time.Minute, "dead", 1)
	ok(t, "Nack", tg.Queues.Nack(testCtx(t), q, job.Receipt, 0))
	for _, p := range []string{"r1", "r2", "r3"} {
		enqueue(t, tg, q, p, flowmesh.QueueEnqueueOptions{})
	}
	for _, p := range []string{"d1", "d2"} {
		enqueue(t, tg, q, p, flowmesh.QueueEnqueueOptions{Delay: time.Hour})
	}
	reserveWant(t, tg, q, time.Minute, "r1", 1)
	wantStats(t, tg, q, "mixed queue", 2, 2, 1, 1)
	// Consistency levels agree on a single node.
	for _, c := range []flowmesh.Consistency{flowmesh.Linearizable, flowmesh.Leader, flowmesh.Stale} {
		st, err := tg.Queues.Stats(testCtx(t), q, flowmesh.WithConsistency(c))
		ok(t, "Stats", err)
		st.OldestReadyAge = 0
		if want := (flowmesh.QueueStats{Ready: 2, Delayed: 2, InFlight: 1, Dead: 1}); st != want {
			t.Errorf("Stats with consistency %d = %+v, want %+v", c, st, want)
		}
	}
}

func testQueuePurge(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	for _, p := range []string{"r1", "r2", "r3", "r4"} {
		enqueue(t, tg, q, p, flowmesh.QueueEnqueueOptions{})
	}
	for _, p := range []string{"d1", "d2"} {
		enqueue(t, tg, q, p, flowmesh.QueueEnqueueOptions{Delay: time.Hour})
	}
	held := reserveWant(t, tg, q, time.Minute, "r1", 1)
	n, err := tg.Queues.Purge(ctx, q)
	ok(t, "Purge", err)
	if n != 5 {
		t.Errorf("Purge = %d, want 5 (3 ready + 2 delayed)", n)
	}
	wantStats(t, tg, q, "after Purge", 0, 0, 1, 0)
	reserveNone(t, tg, q, "after Purge")
	ok(t, "Ack of the in-flight job kept by Purge", tg.Queues.Ack(ctx, q, held.Receipt))
	n, err = tg.Queues.Purge(ctx, q)
	ok(t, "Purge of an empty queue", err)
	if n != 0 {
		t.Errorf("Purge of an empty queue = %d, want 0", n)
	}
	enqueue(t, tg, q, "after", flowmesh.QueueEnqueueOptions{})
	reserveWant(t, tg, q, time.Minute, "after", 1)
}

func testQueueDedup(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	id1, seq1 := enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{DedupID: "d1"})
	id, seq := enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{DedupID: "d1"})
	if id != id1 || seq != seq1 {
		t.Errorf("repeat of DedupID d1: job %s seq %d, want the original %s seq %d", id, seq, id1, seq1)
	}
	wantStats(t, tg, q, "after a repeated DedupID", 1, 0, 0, 0)
	id2, _ := enqueue(t, tg, q, "b", flowmesh.QueueEnqueueOptions{DedupID: "d2"})
	if id2 == id1 {
		t.Errorf("DedupID d2 returned d1's job %s", id1)
	}
	// Within the window the repeat is absorbed even after the job is done.
	job := reserveWant(t, tg, q, time.Minute, "a", 1)
	ok(t, "Ack", tg.Queues.Ack(ctx, q, job.Receipt))
	if id, seq := enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{DedupID: "d1"}); id != id1 || seq != seq1 {
		t.Errorf("repeat of DedupID d1 after ack: job %s seq %d, want the original %s seq %d", id, seq, id1, seq1)
	}
	wantStats(t, tg, q, "after a repeat of an acked job's DedupID", 1, 0, 0, 0)
	// DedupIDs are per queue.
	q2 := createQueue(t, tg, "q2").GetPath()
	enqueue(t, tg, q2, "a", flowmesh.QueueEnqueueOptions{DedupID: "d1"})
	wantStats(t, tg, q2, "same DedupID on another queue", 1, 0, 0, 0)
	// A request ID makes any enqueue idempotent.
	ridA, rseqA := enqueue(t, tg, q, "r", flowmesh.QueueEnqueueOptions{}, flowmesh.WithRequestID("req-1"))
	ridB, rseqB := enqueue(t, tg, q, "r", flowmesh.QueueEnqueueOptions{}, flowmesh.WithRequestID("req-1"))
	if ridA != ridB || rseqA != rseqB {
		t.Errorf("repeat of request req-1: job %s seq %d, want the original %s seq %d", ridB, rseqB, ridA, rseqA)
	}
	wantStats(t, tg, q, "after a repeated request ID", 2, 0, 0, 0)
	// Without either, equal payloads are distinct jobs.
	enqueue(t, tg, q, "same", flowmesh.QueueEnqueueOptions{})
	enqueue(t, tg, q, "same", flowmesh.QueueEnqueueOptions{})
	wantStats(t, tg, q, "after two plain enqueues", 4, 0, 0, 0)
}

func testQueuePayloadLimit(t *testing.T, tg Target) {
	ctx := testCtx(t)
	small := createQueue(t, tg, "small", flowmesh.WithMaxPayload(100)).GetPath()
	_, _, err := tg.Queues.Enqueue(ctx, small, bytesOf(100, 'a'), flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue of exactly the queue's MaxPayload", err)
	_, _, err = tg.Queues.Enqueue(ctx, small, bytesOf(101, 'a'), flowmesh.QueueEnqueueOptions{})
	wantLimit(t, "Enqueue over the queue's MaxPayload", err)
	wantStats(t, tg, small, "after an oversized enqueue", 1, 0, 0, 0)

	def := createQueue(t, tg, "default").GetPath()
	big := bytesOf(flowmesh.MaxPayloadSize, 'b')
	_, _, err = tg.Queues.Enqueue(ctx, def, big, flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue of MaxPayloadSize", err)
	_, _, err = tg.Queues.Enqueue(ctx, def, bytesOf(flowmesh.MaxPayloadSize+1, 'b'), flowmesh.QueueEnqueueOptions{})
	wantLimit(t, "Enqueue over MaxPayloadSize", err)
	wantStats(t, tg, def, "after an oversized enqueue", 1, 0, 0, 0)
	job := reserve(t, tg, def, time.Minute)
	if job == nil || !bytes.Equal(job.Payload, big) {
		t.Errorf("payload of MaxPayloadSize did not reserve back intact")
	}
}

func testQueueBadArguments(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	tooLong := strings.Repeat("d", flowmesh.MaxRequestIDLen+1)
	enqueues := []struct {
		name string
		opts flowmesh.QueueEnqueueOptions
		errs []error
	}{
		{"negative delay", flowmesh.QueueEnqueueOptions{Delay: -time.Second}, []error{flowmesh.ErrInvalidArgument}},
		{"delay over MaxDelay", flowmesh.QueueEnqueueOptions{Delay: flowmesh.MaxDelay + time.Second}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"DedupID over MaxRequestIDLen", flowmesh.QueueEnqueueOptions{DedupID: tooLong}, []error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
	}
	for _, tt := range enqueues {
		_, _, err := tg.Queues.Enqueue(ctx, q, []byte("x"), tt.opts)
		wantErr(t, "Enqueue with "+tt.name, err, tt.errs...)
	}
	wantStats(t, tg, q, "after refused enqueues", 1, 0, 0, 0)
	for _, vis := range []time.Duration{-time.Second, flowmesh.MaxVisibility + time.Second} {
		_, err := tg.Queues.Reserve(ctx, q, vis)
		wantErr(t, fmt.Sprintf("Reserve with visibility %v", vis), err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	}
	wantStats(t, tg, q, "after refused reserves", 1, 0, 0, 0)
	job := reserveWant(t, tg, q, time.Minute, "a", 1)
	wantErr(t, "Nack with a negative delay", tg.Queues.Nack(ctx, q, job.Receipt, -time.Second), flowmesh.ErrInvalidArgument)
	wantErr(t, "Nack with a delay over MaxDelay", tg.Queues.Nack(ctx, q, job.Receipt, flowmesh.MaxDelay+time.Second), flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	wantErr(t, "Touch over MaxVisibility", tg.Queues.Touch(ctx, q, job.Receipt, flowmesh.MaxVisibility+time.Second), flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	wantStats(t, tg, q, "after refused nacks", 0, 0, 1, 0)
	ok(t, "Ack after refused calls", tg.Queues.Ack(ctx, q, job.Receipt))
}

func testQueueReserveWait(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()

	const wait = 300 * time.Millisecond
	start := time.Now()
	job, err := tg.Queues.ReserveWait(ctx, q, time.Minute, wait)
	elapsed := time.Since(start)
	ok(t, "ReserveWait on an empty queue", err)
	if job != nil {
		t.Fatalf("ReserveWait on an empty queue returned %q", job.Payload)
	}
	if elapsed < wait/2 || elapsed > settleTimeout {
		t.Errorf("ReserveWait(%v) on an empty queue returned after %v, want about %v", wait, elapsed, wait)
	}
	// The wait is bounded the same way embedded and over the network.
	for _, bad := range []time.Duration{-time.Second, flowmesh.MaxReserveWait + time.Second} {
		_, err := tg.Queues.ReserveWait(ctx, q, time.Minute, bad)
		wantErr(t, fmt.Sprintf("ReserveWait with wait %v", bad), err, flowmesh.ErrInvalidArgument)
	}

	// A job enqueued while a worker waits goes to that worker.
	type result struct {
		job *flowmesh.Job
		err error
		at  time.Duration
	}
	done := make(chan result, 1)
	start = time.Now()
	go func() {
		j, err := tg.Queues.ReserveWait(ctx, q, time.Minute, settleTimeout)
		done <- result{j, err, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	enqueue(t, tg, q, "late", flowmesh.QueueEnqueueOptions{})
	select {
	case r := <-done:
		ok(t, "ReserveWait while a job is enqueued", r.err)
		if r.job == nil || string(r.job.Payload) != "late" {
			t.Fatalf("ReserveWait returned %+v after %v, want the job enqueued while it waited", r.job, r.at)
		}
		checkJob(t, "ReserveWait", r.job)
		if r.at >= settleTimeout {
			t.Errorf("ReserveWait returned after %v, at the end of its wait; want soon after the enqueue", r.at)
		}
	case <-time.After(2 * settleTimeout):
		t.Fatalf("ReserveWait did not return within %v", 2*settleTimeout)
	}

	// A ready job is returned without waiting.
	enqueue(t, tg, q, "ready", flowmesh.QueueEnqueueOptions{})
	start = time.Now()
	job, err = tg.Queues.ReserveWait(ctx, q, time.Minute, settleTimeout)
	ok(t, "ReserveWait with a ready job", err)
	if job == nil || string(job.Payload) != "ready" {
		t.Fatalf("ReserveWait with a ready job returned %+v", job)
	}
	if d := time.Since(start); d > settleTimeout/2 {
		t.Errorf("ReserveWait with a ready job took %v", d)
	}
}

func testQueueConcurrentReserve(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	const jobs, workers = 40, 8
	for i := range jobs {
		enqueue(t, tg, q, fmt.Sprint(i), flowmesh.QueueEnqueueOptions{})
	}
	var mu sync.Mutex
	got := map[string]int{}
	var errs []error
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range jobs {
				job, err := tg.Queues.Reserve(ctx, q, time.Minute)
				if err == nil && job != nil {
					err = tg.Queues.Ack(ctx, q, job.Receipt)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if job != nil {
					got[string(job.Payload)]++
				}
				mu.Unlock()
				if err != nil || job == nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent Reserve/Ack: %v", err)
	}
	for i := range jobs {
		if n := got[fmt.Sprint(i)]; n != 1 {
			t.Errorf("job %d reserved %d times by concurrent workers, want exactly once", i, n)
		}
	}
	wantStats(t, tg, q, "after concurrent workers", 0, 0, 0, 0)
}

func testQueueDelayElapses(t *testing.T, tg Target) {
	needClock(t, tg)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "late", flowmesh.QueueEnqueueOptions{Delay: time.Minute})
	reserveNone(t, tg, q, "before the delay")
	advance(t, tg, 30*time.Second)
	reserveNone(t, tg, q, "half-way through the delay")
	wantStats(t, tg, q, "before the delay passed", 0, 1, 0, 0)
	advance(t, tg, 31*time.Second)
	statsEventually(t, tg, q, "after the delay passed", flowmesh.QueueStats{Ready: 1})
	reserveEventually(t, tg, q, time.Minute, "late", 1)
}

func testQueueVisibilityExpiry(t *testing.T, tg Target) {
	needClock(t, tg)
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	first := reserveWant(t, tg, q, 10*time.Second, "a", 1)
	reserveNone(t, tg, q, "within the visibility timeout")
	advance(t, tg, 11*time.Second)
	statsEventually(t, tg, q, "after the reservation expired", flowmesh.QueueStats{Ready: 1})
	second := reserveEventually(t, tg, q, time.Minute, "a", 2)
	if second.Receipt.JobID != first.Receipt.JobID || second.Receipt == first.Receipt {
		t.Errorf("redelivery: job %s receipt %+v, want job %s with a new receipt (first %+v)", second.ID, second.Receipt, first.Receipt.JobID, first.Receipt)
	}
	if !second.VisibleUntil.After(first.VisibleUntil) {
		t.Errorf("redelivery VisibleUntil %v, want after the first reservation's %v", second.VisibleUntil, first.VisibleUntil)
	}
	// The first holder's receipt is stale: its ack must not take the job
	// from the second holder.
	wantErr(t, "Ack with the expired receipt", tg.Queues.Ack(ctx, q, first.Receipt), flowmesh.ErrStaleReceipt)
	wantErr(t, "Touch with the expired receipt", tg.Queues.Touch(ctx, q, first.Receipt, time.Minute), flowmesh.ErrStaleReceipt)
	wantErr(t, "Nack with the expired receipt", tg.Queues.Nack(ctx, q, first.Receipt, 0), flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after the stale calls", 0, 0, 1, 0)
	reserveNone(t, tg, q, "job held by the second worker")
	ok(t, "Ack with the current receipt", tg.Queues.Ack(ctx, q, second.Receipt))
	wantStats(t, tg, q, "after ack", 0, 0, 0, 0)
}

// testQueueRemoveFromInFlightStale: the founding API's ack is fenced like
// Ack. Worker A's reservation expires and worker B reserves the job; A's
// RemoveFromInFlight(job.ID) must not take the job from B.
func testQueueRemoveFromInFlightStale(t *testing.T, tg Target) {
	needClock(t, tg)
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	id, _ := enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	a := reserveWant(t, tg, q, 10*time.Second, "a", 1)
	if a.ID != id {
		t.Errorf("first delivery: Job.ID %q, want the Enqueue ID %q", a.ID, id)
	}
	advance(t, tg, 11*time.Second)
	statsEventually(t, tg, q, "after A's reservation expired", flowmesh.QueueStats{Ready: 1})
	b := reserveEventually(t, tg, q, time.Minute, "a", 2)
	if b.ID == a.ID || b.Receipt.JobID != id {
		t.Errorf("redelivery: Job.ID %q receipt %+v, want an ID other than A's %q naming job %s", b.ID, b.Receipt, a.ID, id)
	}
	wantErr(t, "A's RemoveFromInFlight after its reservation expired", tg.Queues.RemoveFromInFlight(ctx, q, a.ID), flowmesh.ErrStaleReceipt)
	wantStats(t, tg, q, "after A's refused removal", 0, 0, 1, 0)
	reserveNone(t, tg, q, "job held by B")
	ok(t, "B's RemoveFromInFlight", tg.Queues.RemoveFromInFlight(ctx, q, b.ID))
	wantStats(t, tg, q, "after B's removal", 0, 0, 0, 0)
	wantErr(t, "B's RemoveFromInFlight again", tg.Queues.RemoveFromInFlight(ctx, q, b.ID), flowmesh.ErrNotFound)
}

func testQueueNackDelayElapses(t *testing.T, tg Target) {
	needClock(t, tg)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, time.Minute, "a", 1)
	ok(t, "Nack with a delay", tg.Queues.Nack(testCtx(t), q, job.Receipt, time.Minute))
	reserveNone(t, tg, q, "before the nack delay")
	advance(t, tg, 61*time.Second)
	reserveEventually(t, tg, q, time.Minute, "a", 2)
}

func testQueueTouch(t *testing.T, tg Target) {
	needClock(t, tg)
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	job := reserveWant(t, tg, q, 10*time.Second, "a", 1)
	advance(t, tg, 8*time.Second)
	ok(t, "Touch", tg.Queues.Touch(ctx, q, job.Receipt, 30*time.Second))
	// Past the original 10 s, inside the extension.
	advance(t, tg, 8*time.Second)
	reserveNone(t, tg, q, "16s after reserve, extended at 8s by 30s")
	ok(t, "Ack after Touch", tg.Queues.Ack(ctx, q, job.Receipt))
	wantStats(t, tg, q, "after ack", 0, 0, 0, 0)

	// Without an ack the extended reservation still ends.
	enqueue(t, tg, q, "b", flowmesh.QueueEnqueueOptions{})
	job = reserveWant(t, tg, q, 10*time.Second, "b", 1)
	ok(t, "Touch", tg.Queues.Touch(ctx, q, job.Receipt, 30*time.Second))
	advance(t, tg, 20*time.Second)
	reserveNone(t, tg, q, "inside the extension")
	advance(t, tg, 11*time.Second)
	again := reserveEventually(t, tg, q, time.Minute, "b", 2)
	wantErr(t, "Touch with the expired receipt", tg.Queues.Touch(ctx, q, job.Receipt, time.Minute), flowmesh.ErrStaleReceipt)
	ok(t, "Ack", tg.Queues.Ack(ctx, q, again.Receipt))
}

func testQueueDeadAfterExpiries(t *testing.T, tg Target) {
	needClock(t, tg)
	ctx := testCtx(t)
	q := createQueue(t, tg, "q", flowmesh.WithMaxAttempts(2), flowmesh.WithVisibilityTimeout(10*time.Second)).GetPath()
	id, _ := enqueue(t, tg, q, "poison", flowmesh.QueueEnqueueOptions{})
	reserveWant(t, tg, q, 0, "poison", 1)
	advance(t, tg, 11*time.Second)
	reserveEventually(t, tg, q, 0, "poison", 2)
	advance(t, tg, 11*time.Second)
	eventually(t, settleTimeout, "job is dead after its second reservation expires", func() error {
		if job := reserve(t, tg, q, 0); job != nil {
			t.Fatalf("Reserve after MaxAttempts reservations returned %q attempt %d, want the job dead", job.Payload, job.Attempt)
		}
		if st := stats(t, tg, q); st.Dead != 1 || st.InFlight != 0 {
			return fmt.Errorf("Stats = %+v", st)
		}
		return nil
	})
	dead, err := tg.Queues.ListDead(ctx, q, 10)
	ok(t, "ListDead", err)
	if len(dead) != 1 || dead[0].ID != id {
		t.Errorf("ListDead = %+v, want job %s", dead, id)
	}
}

func testQueueReserveWaitCancel(t *testing.T, tg Target) {
	q := createQueue(t, tg, "q").GetPath()
	ctx, cancel := context.WithTimeout(testCtx(t), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	job, err := tg.Queues.ReserveWait(ctx, q, time.Minute, settleTimeout)
	if d := time.Since(start); d > settleTimeout/2 {
		t.Errorf("ReserveWait returned %v after its context ended at 200ms", d)
	}
	if job != nil {
		t.Fatalf("ReserveWait on an empty queue returned %q", job.Payload)
	}
	if err != nil {
		wantErr(t, "ReserveWait whose context ended", err, context.DeadlineExceeded)
	}
	// A job enqueued now goes to the next worker, not the one that left.
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	reserveWant(t, tg, q, time.Minute, "a", 1)
}

func testQueueOldestReadyAge(t *testing.T, tg Target) {
	needClock(t, tg)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "old", flowmesh.QueueEnqueueOptions{})
	advance(t, tg, 90*time.Second)
	enqueue(t, tg, q, "new", flowmesh.QueueEnqueueOptions{})
	if st := stats(t, tg, q); st.OldestReadyAge < 90*time.Second || st.OldestReadyAge > 90*time.Second+settleTimeout {
		t.Errorf("OldestReadyAge = %v, want about 90s (the oldest ready job's age)", st.OldestReadyAge)
	}
	reserveWant(t, tg, q, time.Minute, "old", 1)
	if st := stats(t, tg, q); st.OldestReadyAge > settleTimeout {
		t.Errorf("after the oldest job was reserved OldestReadyAge = %v, want the new job's age (about 0)", st.OldestReadyAge)
	}
}

// testQueueIdempotentCalls checks that retried writes with a request ID get
// their first answer: a retried Reserve must not take a second job, a
// retried Ack must not fail on its own success.
func testQueueIdempotentCalls(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	enqueue(t, tg, q, "a", flowmesh.QueueEnqueueOptions{})
	enqueue(t, tg, q, "b", flowmesh.QueueEnqueueOptions{})
	first, err := tg.Queues.Reserve(ctx, q, time.Minute, flowmesh.WithRequestID("res-1"))
	ok(t, "Reserve", err)
	again, err := tg.Queues.Reserve(ctx, q, time.Minute, flowmesh.WithRequestID("res-1"))
	ok(t, "retried Reserve", err)
	if first == nil || again == nil || again.ID != first.ID || again.Receipt != first.Receipt {
		t.Fatalf("retried Reserve = %+v, want the first answer %+v", again, first)
	}
	wantStats(t, tg, q, "after a retried Reserve", 1, 0, 1, 0)
	ok(t, "Ack", tg.Queues.Ack(ctx, q, first.Receipt, flowmesh.WithRequestID("ack-1")))
	ok(t, "retried Ack", tg.Queues.Ack(ctx, q, first.Receipt, flowmesh.WithRequestID("ack-1")))
	wantStats(t, tg, q, "after a retried Ack", 1, 0, 0, 0)
	job := reserveWant(t, tg, q, time.Minute, "b", 1)
	ok(t, "Nack", tg.Queues.Nack(ctx, q, job.Receipt, 0, flowmesh.WithRequestID("nack-1")))
	ok(t, "retried Nack", tg.Queues.Nack(ctx, q, job.Receipt, 0, flowmesh.WithRequestID("nack-1")))
	wantStats(t, tg, q, "after a retried Nack", 1, 0, 0, 0)
}
