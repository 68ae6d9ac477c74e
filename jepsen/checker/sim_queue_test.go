package checker

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

const simVisibility = 20 * time.Millisecond

type simJob struct {
	value, id    string
	seq          int
	attempt      int
	inFlight     bool
	done         bool
	visibleUntil time.Duration
}

// simQueue is a correct work queue: FIFO by enqueue order among ready jobs,
// reservations that expire, receipts checked on ack and nack.
type simQueue struct {
	jobs []*simJob // enqueue order
}

func (q *simQueue) enqueue(v string) *simJob {
	j := &simJob{value: v, id: "id-" + v, seq: len(q.jobs)}
	q.jobs = append(q.jobs, j)
	return j
}

func (q *simQueue) reserve(now time.Duration) *simJob {
	for _, j := range q.jobs {
		if j.done || (j.inFlight && j.visibleUntil > now) {
			continue
		}
		j.inFlight, j.attempt, j.visibleUntil = true, j.attempt+1, now+simVisibility
		return j
	}
	return nil
}

func (q *simQueue) find(id string) *simJob {
	for _, j := range q.jobs {
		if j.id == id {
			return j
		}
	}
	return nil
}

// settle acks (remove) or nacks (release) the reservation named by the
// receipt; false when the receipt is not the job's current one.
func (q *simQueue) settle(id string, attempt int, remove bool) bool {
	j := q.find(id)
	if j == nil || j.done || !j.inFlight || j.attempt != attempt {
		return false
	}
	if remove {
		j.done = true
	} else {
		j.inFlight = false
	}
	return true
}

func simQueueRun(seed uint64, producers, workers, n int) []history.Op {
	s := newSim(seed, 0.15)
	q := &simQueue{}
	reserveEffect := func(o *history.Op) history.Type {
		if j := q.reserve(s.now); j != nil {
			o.JobID, o.Value, o.Attempt = j.id, j.value, j.attempt
		}
		return history.OK
	}
	settleEffect := func(remove bool) func(*history.Op) history.Type {
		return func(o *history.Op) history.Type {
			if q.settle(o.JobID, o.Attempt, remove) {
				return history.OK
			}
			return history.Fail
		}
	}
	active := producers + workers
	var drain func()
	finish := func() {
		if active--; active == 0 {
			s.at(s.now+simVisibility, drain)
		}
	}
	for p := range producers {
		left := n
		var next func()
		next = func() {
			if left == 0 {
				finish()
				return
			}
			left--
			op := history.Op{Process: p, F: history.Enqueue, Key: "q", Value: fmt.Sprintf("%d-%d", p, left)}
			s.call(op, true, func(o *history.Op) history.Type {
				o.JobID = q.enqueue(o.Value).id
				return history.OK
			}, func(history.Op) { s.at(s.now+s.ms(0, 4), next) })
		}
		s.at(s.ms(0, 3), next)
	}
	for w := range workers {
		p := producers + w
		left := n
		var next func()
		next = func() {
			if left == 0 {
				finish()
				return
			}
			left--
			s.call(history.Op{Process: p, F: history.Reserve, Key: "q"}, true, reserveEffect, func(d history.Op) {
				if d.Type != history.OK || d.JobID == "" {
					s.at(s.now+s.ms(0, 4), next)
					return
				}
				receipt := history.Op{Process: p, Key: "q", Value: d.Value, JobID: d.JobID, Attempt: d.Attempt}
				switch r := s.rng.IntN(10); {
				case r < 7:
					receipt.F = history.Ack
					s.call(receipt, true, settleEffect(true), func(history.Op) { s.at(s.now, next) })
				case r < 9:
					receipt.F = history.Nack
					s.call(receipt, true, settleEffect(false), func(history.Op) { s.at(s.now, next) })
				default:
					receipt.F, receipt.Type = history.Abandon, history.OK
					receipt.Index, receipt.InvokeTime, receipt.CompleteTime = len(s.ops), s.now, s.now
					s.ops = append(s.ops, receipt)
					s.at(s.now, next)
				}
			})
		}
		s.at(s.ms(0, 3), next)
	}
	// Final drain: no faults, so no info ops; stop after the queue stayed
	// empty for longer than the visibility timeout.
	emptySince := time.Duration(-1)
	drain = func() {
		s.call(history.Op{Process: producers + workers, F: history.Reserve, Key: "q"}, false, reserveEffect, func(d history.Op) {
			if d.JobID == "" {
				if emptySince < 0 {
					emptySince = s.now
				}
				if s.now-emptySince > simVisibility {
					return
				}
				s.at(s.now+simVisibility/2, drain)
				return
			}
			emptySince = -1
			ack := history.Op{Process: producers + workers, F: history.Ack, Key: "q", Value: d.Value, JobID: d.JobID, Attempt: d.Attempt}
			s.call(ack, false, settleEffect(true), func(history.Op) { s.at(s.now, drain) })
		})
	}
	return s.run()
}

func TestQueueSimulatedHistoriesValid(t *testing.T) {
	for seed := range uint64(30) {
		ops := simQueueRun(seed, 3, 4, 40)
		r := CheckQueue(ops, QueueConfig{Visibility: simVisibility})
		if r.Valid != Valid {
			t.Fatalf("seed %d: correct queue judged %s: %v %v", seed, r.Valid, r.Anomalies, r.Examples)
		}
		if r.Stats["reserve/ok"] == 0 || r.Stats["enqueue/info"] == 0 {
			t.Fatalf("seed %d: simulation too tame: %v", seed, r.Stats)
		}
	}
}

func TestQueueSimulatedCorruptionsCaught(t *testing.T) {
	for seed := range uint64(30) {
		ops := simQueueRun(seed, 3, 4, 40)
		// Hide every delivery of one acknowledged job: lost.
		var victim string
		for _, op := range ops {
			if op.F == history.Enqueue && op.Type == history.OK {
				victim = op.Value
				break
			}
		}
		bad := append([]history.Op(nil), ops...)
		for i := range bad {
			if bad[i].F == history.Reserve && bad[i].Value == victim {
				bad[i].Value, bad[i].JobID, bad[i].Attempt = "", "", 0
			}
		}
		if r := CheckQueue(bad, QueueConfig{Visibility: simVisibility}); r.Anomalies[QueueLost] == 0 {
			t.Fatalf("seed %d: hidden job %s not reported lost: %s", seed, victim, r)
		}
		// Deliver an acked job once more, after its ack: redelivered.
		for _, a := range ops {
			if a.F != history.Ack || a.Type != history.OK {
				continue
			}
			again := history.Op{Index: len(ops), Process: 99, Type: history.OK, F: history.Reserve, Key: "q",
				Value: a.Value, JobID: a.JobID, Attempt: a.Attempt + 1, InvokeTime: a.CompleteTime + 1, CompleteTime: a.CompleteTime + 2}
			r := CheckQueue(append(append([]history.Op(nil), ops...), again), QueueConfig{Visibility: simVisibility})
			if r.Anomalies[QueueRedeliveredAfterAck] == 0 {
				t.Fatalf("seed %d: redelivery after ack not caught: %s", seed, r)
			}
			break
		}
	}
}
