package fsm

import "github.com/flowmesh/flowmesh"

// history is a fixed-capacity ring of the latest KV changes, oldest first.
type history struct {
	buf   []flowmesh.KVEvent
	start int // index of the oldest event once the ring is full
	cap   int
}

func newHistory(capacity int) *history { return &history{cap: capacity} }

// push appends ev and returns the event it pushed out, if any.
func (h *history) push(ev flowmesh.KVEvent) (evicted flowmesh.KVEvent, ok bool) {
	if len(h.buf) < h.cap {
		h.buf = append(h.buf, ev)
		return evicted, false
	}
	evicted = h.buf[h.start]
	h.buf[h.start] = ev
	h.start = (h.start + 1) % h.cap
	return evicted, true
}

func (h *history) len() int { return len(h.buf) }

// at returns the i-th oldest event.
func (h *history) at(i int) flowmesh.KVEvent { return h.buf[(h.start+i)%len(h.buf)] }
