package checker

import (
	"container/heap"
	"math/rand/v2"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// sim is a discrete-event simulation of clients against a correct,
// in-memory system, used to produce valid concurrent histories with info
// operations. Each op takes effect once, atomically, at a time between its
// invocation and completion; an info op takes effect at some time after its
// invocation (possibly after the client gave up), or never.
type sim struct {
	rng      *rand.Rand
	now      time.Duration
	events   eventHeap
	seq      int
	ops      []history.Op
	infoRate float64
}

type event struct {
	at  time.Duration
	seq int
	fn  func()
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

func newSim(seed uint64, infoRate float64) *sim {
	return &sim{rng: rand.New(rand.NewPCG(seed, 1)), infoRate: infoRate}
}

func (s *sim) at(t time.Duration, fn func()) {
	s.seq++
	heap.Push(&s.events, event{at: t, seq: s.seq, fn: fn})
}

func (s *sim) run() []history.Op {
	for s.events.Len() > 0 {
		e := heap.Pop(&s.events).(event)
		s.now = e.at
		e.fn()
	}
	return s.ops
}

func (s *sim) ms(lo, hi int) time.Duration {
	return time.Duration(lo+s.rng.IntN(hi-lo+1)) * time.Millisecond
}

// call invokes op now. effect applies it to the system at its effect time,
// fills the results and returns OK or Fail (Fail only when it changed
// nothing). then runs at completion with the recorded op.
func (s *sim) call(op history.Op, infoAllowed bool, effect func(*history.Op) history.Type, then func(history.Op)) {
	idx := len(s.ops)
	op.Index, op.Type, op.InvokeTime = idx, history.Invoke, s.now
	s.ops = append(s.ops, op)
	done := s.now + s.ms(2, 10)
	if infoAllowed && s.rng.Float64() < s.infoRate {
		if s.rng.IntN(2) == 0 {
			scratch := op
			s.at(s.now+s.ms(0, 60), func() { effect(&scratch) })
		}
		s.at(done, func() {
			s.ops[idx].Type, s.ops[idx].CompleteTime = history.Info, s.now
			then(s.ops[idx])
		})
		return
	}
	var typ history.Type
	s.at(s.now+(done-s.now)/2, func() { typ = effect(&s.ops[idx]) })
	s.at(done, func() {
		s.ops[idx].Type, s.ops[idx].CompleteTime = typ, s.now
		then(s.ops[idx])
	})
}
