package checker

import (
	"sort"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Queue anomalies. The queue workload enqueues unique non-empty payloads
// (Value) into one queue (Key), with no delay and MaxAttempts high enough
// that no job goes dead; workers reserve, then ack, nack or abandon; after
// healing, a final drain reserves and acks until the queue stays empty for
// longer than the visibility timeout.
//
// A delivery is an ok reserve that returned a job; a job is named by its
// payload. An ack or nack names the delivery by its receipt (JobID,
// Attempt) and carries the payload. Times are the ops' invocation and
// completion times; "A completed before B was invoked" is real-time order.
const (
	// QueueLost: an enqueue completed ok but the job was never delivered,
	// the final drain included.
	QueueLost = "lost"
	// QueueUnexpected: a delivered payload that no enqueue attempted.
	QueueUnexpected = "unexpected"
	// QueueFailedEnqueueDelivered: a delivered payload whose every enqueue
	// attempt failed (provably did not happen).
	QueueFailedEnqueueDelivered = "failed-enqueue-delivered"
	// QueueDuplicated: a redelivery nothing explains. Take a job's
	// deliveries in attempt order. Two deliveries with the same attempt
	// number are a duplicate (each reservation takes a new attempt). For
	// each pair of consecutive deliveries lo, hi (lo.Attempt < hi.Attempt)
	// where lo's attempt was never acked ok (those pairs are the two
	// anomalies below), hi is explained when
	//   - a nack of lo's receipt (ok or info) was invoked before hi
	//     completed, or
	//   - the reservation could have expired: hi completed at least
	//     Visibility - ClockSlack after lo was invoked;
	// otherwise it is a duplicate. An attempt between lo and hi taken by
	// an info reserve changes nothing: lo's reservation still had to end
	// first. Counted once per unexplained delivery.
	QueueDuplicated = "duplicated"
	// QueueRedeliveredAfterAck: a delivery of a job invoked after an ok
	// ack of the same job (any attempt) had completed. Counted once per
	// such delivery.
	QueueRedeliveredAfterAck = "redelivered-after-ack"
	// QueueStaleReceiptAckAccepted: an ok ack with receipt attempt a while
	// some delivery of the job has attempt > a and did not provably follow
	// the ack (it was not invoked after the ack completed). If that
	// delivery completed before the ack was invoked, the receipt was
	// certainly stale; if they overlapped, either the ack used a stale
	// receipt or the job was redelivered after its ack, a violation either
	// way. Counted once per ack.
	QueueStaleReceiptAckAccepted = "stale-receipt-ack-accepted"
	// QueueFIFOViolation: jobs A and B, A's enqueue completed ok before
	// B's enqueue was invoked (so A is ahead of B), A's first delivery has
	// attempt 1 (no reservation of A, seen or not, came earlier), and B's
	// first delivery completed before A's first delivery was invoked. At
	// B's delivery A was ready and ahead of it, so the queue skipped its
	// head. Counted once per B.
	QueueFIFOViolation = "fifo-violation"
)

// QueueConfig is what the queue checker needs besides the history.
type QueueConfig struct {
	// Visibility is the reservation length the workload asked for.
	Visibility time.Duration
	// ClockSlack is how much sooner than Visibility a reservation may end
	// (leader clock skew across failover, clock faults). The runner sets
	// it to at least the largest clock offset it injects.
	ClockSlack time.Duration
}

type queueJob struct {
	enqueues   []history.Op // every enqueue of the payload
	deliveries []history.Op // ok reserves of it
	acks       []history.Op
	nacks      []history.Op
}

// CheckQueue checks a queue workload history. See the Queue* constants.
func CheckQueue(ops []history.Op, cfg QueueConfig) Result {
	r := newResult()
	jobs := map[string]*queueJob{}
	job := func(v string) *queueJob {
		j := jobs[v]
		if j == nil {
			j = &queueJob{}
			jobs[v] = j
		}
		return j
	}
	// Acks and nacks name their job by payload; fall back to the job ID of
	// a delivery when the runner left the payload out.
	byID := map[string]string{}
	for _, op := range ops {
		if op.F == history.Reserve && op.Type == history.OK && op.JobID != "" {
			byID[op.JobID] = op.Value
		}
	}
	for _, op := range ops {
		r.Stats[string(op.F)+"/"+string(op.Type)]++
		v := op.Value
		if v == "" {
			v = byID[op.JobID]
		}
		switch op.F {
		case history.Enqueue:
			job(v).enqueues = append(job(v).enqueues, op)
		case history.Reserve:
			if op.Type == history.OK && op.JobID != "" {
				job(v).deliveries = append(job(v).deliveries, op)
			}
		case history.Ack:
			if v != "" {
				job(v).acks = append(job(v).acks, op)
			}
		case history.Nack:
			if v != "" {
				job(v).nacks = append(job(v).nacks, op)
			}
		}
	}

	values := sortedKeys(jobs)
	for _, v := range values {
		j := jobs[v]
		sort.SliceStable(j.deliveries, func(a, b int) bool {
			da, db := j.deliveries[a], j.deliveries[b]
			if da.Attempt != db.Attempt {
				return da.Attempt < db.Attempt
			}
			return da.InvokeTime < db.InvokeTime
		})
		checkDelivered(&r, v, j)
		checkRedeliveries(&r, v, j, cfg)
	}
	checkFIFO(&r, values, jobs)
	return r
}

func checkDelivered(r *Result, v string, j *queueJob) {
	okEnq, failed := false, 0
	for _, e := range j.enqueues {
		switch e.Type {
		case history.OK:
			okEnq = true
		case history.Fail:
			failed++
		}
	}
	switch {
	case okEnq && len(j.deliveries) == 0:
		r.add(QueueLost, map[string]any{"value": v, "enqueues": j.enqueues})
	case len(j.deliveries) > 0 && len(j.enqueues) == 0:
		r.add(QueueUnexpected, map[string]any{"value": v, "delivery": j.deliveries[0]})
	case len(j.deliveries) > 0 && failed == len(j.enqueues):
		r.add(QueueFailedEnqueueDelivered, map[string]any{"value": v, "enqueues": j.enqueues, "delivery": j.deliveries[0]})
	}
}

func checkRedeliveries(r *Result, v string, j *queueJob, cfg QueueConfig) {
	var okAcks []history.Op
	for _, a := range j.acks {
		if a.Type == history.OK {
			okAcks = append(okAcks, a)
		}
	}
	// redelivered-after-ack, in real time, whatever the attempts.
	for _, d := range j.deliveries {
		for _, a := range okAcks {
			if a.Precedes(d) {
				r.add(QueueRedeliveredAfterAck, map[string]any{"value": v, "ack": a, "delivery": d})
				break
			}
		}
	}
	// stale-receipt-ack-accepted.
	for _, a := range okAcks {
		for _, d := range j.deliveries {
			if d.Attempt > a.Attempt && !a.Precedes(d) {
				r.add(QueueStaleReceiptAckAccepted, map[string]any{"value": v, "ack": a, "newer_delivery": d})
				break
			}
		}
	}
	// duplicated: consecutive deliveries in attempt order.
	acked := map[int]bool{}
	for _, a := range okAcks {
		acked[a.Attempt] = true
	}
	for i := 1; i < len(j.deliveries); i++ {
		lo, hi := j.deliveries[i-1], j.deliveries[i]
		if lo.Attempt == hi.Attempt {
			r.add(QueueDuplicated, map[string]any{"value": v, "reason": "two deliveries with one attempt", "first": lo, "second": hi})
			continue
		}
		if acked[lo.Attempt] {
			continue // reported above
		}
		if hi.CompleteTime >= lo.InvokeTime+cfg.Visibility-cfg.ClockSlack {
			continue // the reservation may have expired
		}
		nacked := false
		for _, n := range j.nacks {
			if n.Attempt == lo.Attempt && n.Type != history.Fail && n.InvokeTime < hi.CompleteTime {
				nacked = true
				break
			}
		}
		if !nacked {
			r.add(QueueDuplicated, map[string]any{"value": v, "reason": "redelivered before the reservation could expire, without a nack", "first": lo, "second": hi})
		}
	}
}

func checkFIFO(r *Result, values []string, jobs map[string]*queueJob) {
	type cand struct {
		enq   history.Op // first ok enqueue
		first history.Op // first delivery (attempt 1)
	}
	var as []cand
	for _, v := range values {
		j := jobs[v]
		if len(j.deliveries) == 0 || j.deliveries[0].Attempt != 1 {
			continue
		}
		var enq *history.Op
		for i := range j.enqueues {
			if e := j.enqueues[i]; e.Type == history.OK && (enq == nil || e.CompleteTime < enq.CompleteTime) {
				enq = &j.enqueues[i]
			}
		}
		if enq != nil {
			as = append(as, cand{*enq, j.deliveries[0]})
		}
	}
	sort.Slice(as, func(a, b int) bool { return as[a].enq.CompleteTime < as[b].enq.CompleteTime })
	// best[i] is the candidate among as[:i+1] whose first delivery was
	// invoked latest.
	best := make([]int, len(as))
	for i := range as {
		best[i] = i
		if i > 0 && as[best[i-1]].first.InvokeTime > as[i].first.InvokeTime {
			best[i] = best[i-1]
		}
	}
	for _, v := range values {
		j := jobs[v]
		if len(j.deliveries) == 0 {
			continue
		}
		fb := firstInvoked(j.deliveries)
		// B's enqueue must not have begun before A's completed: take B's
		// earliest enqueue invocation that did not fail.
		var bInv time.Duration = -1
		for _, e := range j.enqueues {
			if e.Type != history.Fail && (bInv < 0 || e.InvokeTime < bInv) {
				bInv = e.InvokeTime
			}
		}
		if bInv < 0 {
			continue
		}
		n := sort.Search(len(as), func(i int) bool { return as[i].enq.CompleteTime >= bInv })
		if n == 0 {
			continue
		}
		a := as[best[n-1]]
		if fb.CompleteTime < a.first.InvokeTime {
			r.add(QueueFIFOViolation, map[string]any{"ahead": a.enq.Value, "ahead_enqueue": a.enq, "ahead_first_delivery": a.first, "behind": v, "behind_first_delivery": fb})
		}
	}
}

func firstInvoked(ds []history.Op) history.Op {
	f := ds[0]
	for _, d := range ds[1:] {
		if d.InvokeTime < f.InvokeTime {
			f = d
		}
	}
	return f
}
