package fsm

import (
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// dedupWindow remembers the results of recent commands by request ID. Entries
// leave in insertion order once older than the window (in stamped time), or
// beyond the entry limit or the byte budget, so every replica keeps the same
// window. The byte budget bounds memory and the checkpoint: reserve results
// carry job payloads. A retry whose entry has left is applied as new.
type dedupWindow struct {
	window   int64
	max      int
	maxBytes int64
	bytes    int64 // sum of the items' sizes
	byID     map[string]*dedupItem
	order    []*dedupItem // insertion order; stamps never decrease
	head     int
}

type dedupItem struct {
	id     string
	stamp  int64
	size   int64
	result *Result
}

func newDedupWindow(window time.Duration, max int, maxBytes int64) *dedupWindow {
	return &dedupWindow{window: window.Nanoseconds(), max: max, maxBytes: maxBytes, byID: map[string]*dedupItem{}}
}

// dedupSize approximates the memory (and checkpoint bytes) of one entry. It
// depends only on the entry, so every replica evicts alike.
func dedupSize(id string, r *Result) int64 {
	n := int64(96 + len(id) + len(r.JobID) + 16*len(r.Positions))
	if r.Job != nil {
		n += int64(64 + len(r.Job.ID) + len(r.Job.Payload))
	}
	for _, j := range r.Jobs {
		n += int64(64 + len(j.ID) + len(j.Payload))
	}
	for _, it := range r.Items {
		n += int64(48 + len(it.JobID))
	}
	if r.Resource != nil {
		n += 256
	}
	if r.Txn != nil {
		n += txnResultSize(r.Txn)
	}
	return n
}

func (d *dedupWindow) get(id string) (*Result, bool) {
	it, ok := d.byID[id]
	if !ok {
		return nil, false
	}
	return it.result, true
}

func (d *dedupWindow) put(id string, stamp int64, r *Result) {
	if _, ok := d.byID[id]; ok {
		return
	}
	it := &dedupItem{id: id, stamp: stamp, size: dedupSize(id, r), result: r}
	d.byID[id] = it
	d.order = append(d.order, it)
	d.bytes += it.size
	// The newest entry always stays, whatever its size.
	for len(d.order)-d.head > d.max || (d.bytes > d.maxBytes && len(d.order)-d.head > 1) {
		d.evict()
	}
}

func (d *dedupWindow) evict() {
	it := d.order[d.head]
	d.order[d.head] = nil
	d.head++
	d.bytes -= it.size
	delete(d.byID, it.id)
	if d.head > 1024 && d.head*2 > len(d.order) {
		d.order = append([]*dedupItem(nil), d.order[d.head:]...)
		d.head = 0
	}
}

func (d *dedupWindow) expire(now int64) {
	for d.head < len(d.order) && d.order[d.head].stamp < now-d.window {
		d.evict()
	}
}

func (d *dedupWindow) entries() []*fsmpb.DedupEntry {
	out := make([]*fsmpb.DedupEntry, 0, len(d.order)-d.head)
	for _, it := range d.order[d.head:] {
		out = append(out, &fsmpb.DedupEntry{RequestId: it.id, Stamp: it.stamp, Result: resultToPB(it.result)})
	}
	return out
}

func resultToPB(r *Result) *fsmpb.Result {
	pb := &fsmpb.Result{JobId: r.JobID, Seq: r.Seq, Revision: r.Revision, Count: int64(r.Count)}
	for _, p := range r.Positions {
		pb.Positions = append(pb.Positions, &fsmpb.Position{Partition: int32(p.Partition), Offset: p.Offset})
	}
	if r.Job != nil {
		pb.HasJob = true
		pb.Job = &fsmpb.Job{Id: r.Job.ID, Seq: r.Job.Seq, Payload: r.Job.Payload, Attempt: int32(r.Job.Attempt),
			EnqueuedAt: r.Job.EnqueuedAt.UnixNano(), VisibleUntil: r.Job.VisibleUntil.UnixNano()}
	}
	if r.Resource != nil {
		pb.Resource = ResourceToPB(r.Resource)
	}
	batchResultToPB(r, pb)
	if r.Txn != nil {
		pb.Txn = txnResultToPB(r.Txn)
	}
	return pb
}

func resultFromPB(pb *fsmpb.Result) *Result {
	r := &Result{JobID: pb.JobId, Seq: pb.Seq, Revision: pb.Revision, Count: int(pb.Count)}
	for _, p := range pb.Positions {
		r.Positions = append(r.Positions, flowmesh.Position{Partition: int(p.Partition), Offset: p.Offset})
	}
	if pb.HasJob {
		r.Job = jobFromPB(pb.Job)
	}
	if pb.Resource != nil {
		r.Resource = resourceFromPB(pb.Resource)
	}
	batchResultFromPB(pb, r)
	if pb.Txn != nil {
		r.Txn = txnResultFromPB(pb.Txn)
	}
	return r
}
