package history

import (
	"sync"
	"time"
)

// Recorder collects a test's history. It is safe for concurrent use.
type Recorder struct {
	start time.Time // carries the monotonic reading: durations from it are monotonic

	mu  sync.Mutex
	ops []Op
}

// NewRecorder starts a history whose times count from now.
func NewRecorder() *Recorder { return &Recorder{start: time.Now()} }

// Now is the time since the test began.
func (r *Recorder) Now() time.Duration { return time.Since(r.start) }

// Handle names an invoked op; complete it exactly once.
type Handle struct {
	r *Recorder
	i int
}

// Invoke records op as invoked now and returns its handle. Index, Type and
// the times are set here; everything else is the caller's.
func (r *Recorder) Invoke(op Op) Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	op.Index = len(r.ops)
	op.Type = Invoke
	op.InvokeTime = r.Now()
	op.CompleteTime = 0
	r.ops = append(r.ops, op)
	return Handle{r: r, i: op.Index}
}

// Complete records the outcome of h's op. fill, when not nil, sets the
// result fields. err, when not nil, is kept as text. A second completion
// of the same op is ignored and reported false.
func (h Handle) Complete(t Type, err error, fill func(*Op)) bool {
	r := h.r
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	op := &r.ops[h.i]
	if op.Type != Invoke {
		return false
	}
	if fill != nil {
		fill(op)
		op.Index = h.i // fill may not move the op
	}
	op.Type = t
	op.CompleteTime = now
	if err != nil {
		op.Err = err.Error()
	}
	return true
}

// OK completes h's op as having happened; fill sets its results.
func (h Handle) OK(fill func(*Op)) bool { return h.Complete(OK, nil, fill) }

// Error completes h's op with the outcome Classify gives err; a nil err is OK.
func (h Handle) Error(err error, fill func(*Op)) bool {
	r := h.r
	r.mu.Lock()
	f := r.ops[h.i].F
	r.mu.Unlock()
	return h.Complete(Classify(f, err), err, fill)
}

// Op returns h's op as recorded so far.
func (h Handle) Op() Op {
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	return h.r.ops[h.i]
}

// History returns a copy of the ops in invocation order. Ops still pending
// are returned as Info completed now: their outcome is unknown.
func (r *Recorder) History() []Op {
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Op, len(r.ops))
	copy(out, r.ops)
	for i := range out {
		if out[i].Type == Invoke {
			out[i].Type = Info
			out[i].CompleteTime = now
			out[i].Err = "pending when the history was taken"
		}
		out[i].Messages = append([]Message(nil), out[i].Messages...)
	}
	return out
}
