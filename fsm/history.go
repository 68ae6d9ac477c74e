package fsm

import "github.com/flowmesh/flowmesh"

// history is the latest KV changes of one store, oldest first, kept for
// Watch. It holds at most cap events and, beyond its newest event, at most
// maxBytes of keys and values: a store whose values are large keeps fewer
// revisions, so 10000 revisions of a 256 KiB value (2.5 GiB) cannot pile up
// in memory. Eviction depends only on the sequence of changes, so every
// replica, and a replica replaying its log, keeps the same history.
type history struct {
	buf      []flowmesh.KVEvent // buf[head:] are the events
	head     int
	bytes    int64 // size of buf[head:]
	cap      int
	maxBytes int64
}

// eventOverhead approximates an event's fixed in-memory cost.
const eventOverhead = 64

func newHistory(capacity int, maxBytes int64) *history {
	return &history{cap: capacity, maxBytes: maxBytes}
}

func eventSize(ev flowmesh.KVEvent) int64 {
	return int64(len(ev.Key) + len(ev.Value) + eventOverhead)
}

// push appends ev and drops the oldest events beyond the bounds (never ev
// itself); it reports whether any was dropped.
func (h *history) push(ev flowmesh.KVEvent) (evicted bool) {
	h.buf = append(h.buf, ev)
	h.bytes += eventSize(ev)
	for h.len() > 1 && (h.len() > h.cap || h.bytes > h.maxBytes) {
		h.bytes -= eventSize(h.buf[h.head])
		h.buf[h.head] = flowmesh.KVEvent{} // let the value go
		h.head++
		evicted = true
	}
	if h.head > 0 && h.head >= len(h.buf)/2 {
		// Move the live events down so the dropped ones' slots are reused
		// rather than the slice growing forever.
		n := copy(h.buf, h.buf[h.head:])
		clear(h.buf[n:])
		h.buf, h.head = h.buf[:n], 0
	}
	return evicted
}

func (h *history) len() int { return len(h.buf) - h.head }

// size is the bytes the history holds, as its bound counts them.
func (h *history) size() int64 { return h.bytes }

// at returns the i-th oldest event.
func (h *history) at(i int) flowmesh.KVEvent { return h.buf[h.head+i] }
