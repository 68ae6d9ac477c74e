package fsm

import "github.com/flowmesh/flowmesh"

// history is the latest KV changes of one store, oldest first, kept for
// Watch. It holds at most cap events and, beyond its newest event, at most
// maxBytes of keys and values: a store whose values are large keeps fewer
// revisions, so 10000 revisions of a 256 KiB value (2.5 GiB) cannot pile up
// in memory. Eviction depends only on the sequence of changes, so every
// replica, and a replica replaying its log, keeps the same history.
//
// Each event keeps the stamp of the entry that made it. Stamps never decide
// what the history holds on their own: the leader reads them to plan a
// KVTrimHistory (by age), and dropBefore applies the revision it chose.
type history struct {
	buf      []histEvent // buf[head:] are the events
	head     int
	bytes    int64 // size of buf[head:]
	cap      int
	maxBytes int64
}

type histEvent struct {
	ev    flowmesh.KVEvent
	stamp int64 // unix nanos
}

// eventOverhead approximates an event's fixed in-memory cost.
const eventOverhead = 64

func newHistory(capacity int, maxBytes int64) *history {
	return &history{cap: capacity, maxBytes: maxBytes}
}

func eventSize(ev flowmesh.KVEvent) int64 {
	return int64(len(ev.Key) + len(ev.Value) + eventOverhead)
}

// push appends ev, made at stamp, and drops the oldest events beyond the
// bounds (never ev itself); it reports whether any was dropped.
func (h *history) push(ev flowmesh.KVEvent, stamp int64) (evicted bool) {
	h.buf = append(h.buf, histEvent{ev: ev, stamp: stamp})
	h.bytes += eventSize(ev)
	for h.len() > 1 && (h.len() > h.cap || h.bytes > h.maxBytes) {
		h.dropOldest()
		evicted = true
	}
	h.reclaim()
	return evicted
}

// dropBefore drops the events with a revision below rev; it reports
// whether any was dropped.
func (h *history) dropBefore(rev uint64) (dropped bool) {
	for h.len() > 0 && h.at(0).Revision < rev {
		h.dropOldest()
		dropped = true
	}
	h.reclaim()
	return dropped
}

func (h *history) dropOldest() {
	h.bytes -= eventSize(h.buf[h.head].ev)
	h.buf[h.head] = histEvent{} // let the value go
	h.head++
}

// reclaim moves the live events down once half the slice is dropped ones,
// so their slots are reused rather than the slice growing forever.
func (h *history) reclaim() {
	if h.head > 0 && h.head >= len(h.buf)/2 {
		n := copy(h.buf, h.buf[h.head:])
		clear(h.buf[n:])
		h.buf, h.head = h.buf[:n], 0
	}
}

func (h *history) len() int { return len(h.buf) - h.head }

// size is the bytes the history holds, as its bound counts them.
func (h *history) size() int64 { return h.bytes }

// at returns the i-th oldest event.
func (h *history) at(i int) flowmesh.KVEvent { return h.buf[h.head+i].ev }

// stampAt returns the stamp of the i-th oldest event.
func (h *history) stampAt(i int) int64 { return h.buf[h.head+i].stamp }
