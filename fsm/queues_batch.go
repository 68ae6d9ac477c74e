package fsm

import (
	"container/heap"
	"errors"
	"strconv"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// Batched queue commands: EnqueueBatch, ReserveBatch and AckBatch are one
// log command each, with the per-job semantics of Enqueue, Reserve and Ack
// (all decided from the entry's stamp), so a batch of N jobs costs one Raft
// round trip instead of N.

// ItemResult is one item of a batch command: the job an EnqueueBatch item
// made (or its DedupID's original), or why an AckBatch receipt failed
// (nil: acked).
type ItemResult struct {
	JobID string
	Seq   uint64
	Err   error
}

// Item error codes in fsmpb.ItemResult (kept in the dedup window of the
// snapshot): append-only.
const (
	itemErrNone         int32 = 0
	itemErrNotFound     int32 = 1
	itemErrStaleReceipt int32 = 2
	itemErrOther        int32 = 3
)

// itemError is an item error restored from the dedup window: the original
// text, matching the original sentinel.
type itemError struct {
	msg string
	err error
}

func (e *itemError) Error() string { return e.msg }
func (e *itemError) Unwrap() error { return e.err }

func itemErrorCode(err error) int32 {
	switch {
	case err == nil:
		return itemErrNone
	case errors.Is(err, flowmesh.ErrStaleReceipt):
		return itemErrStaleReceipt
	case errors.Is(err, flowmesh.ErrNotFound):
		return itemErrNotFound
	}
	return itemErrOther
}

func itemErrorFrom(code int32, msg string) error {
	switch code {
	case itemErrNone:
		return nil
	case itemErrStaleReceipt:
		return &itemError{msg: msg, err: flowmesh.ErrStaleReceipt}
	case itemErrNotFound:
		return &itemError{msg: msg, err: flowmesh.ErrNotFound}
	}
	return errors.New(msg)
}

func batchResultToPB(r *Result, pb *fsmpb.Result) {
	for i := range r.Jobs {
		j := &r.Jobs[i]
		pb.Jobs = append(pb.Jobs, &fsmpb.Job{Id: j.ID, Seq: j.Seq, Payload: j.Payload, Attempt: int32(j.Attempt),
			EnqueuedAt: j.EnqueuedAt.UnixNano(), VisibleUntil: j.VisibleUntil.UnixNano()})
	}
	for _, it := range r.Items {
		p := &fsmpb.ItemResult{JobId: it.JobID, Seq: it.Seq, ErrorCode: itemErrorCode(it.Err)}
		if it.Err != nil {
			p.Error = it.Err.Error()
		}
		pb.Items = append(pb.Items, p)
	}
}

func batchResultFromPB(pb *fsmpb.Result, r *Result) {
	for _, j := range pb.Jobs {
		r.Jobs = append(r.Jobs, *jobFromPB(j))
	}
	for _, it := range pb.Items {
		r.Items = append(r.Items, ItemResult{JobID: it.JobId, Seq: it.Seq, Err: itemErrorFrom(it.ErrorCode, it.Error)})
	}
}

// ValidateEnqueueBatch checks a batch with flowmesh.ValidateEnqueueBatch,
// and every payload against the queue's own limit maxPayload.
func ValidateEnqueueBatch(c *fsmpb.EnqueueBatch, maxPayload int) error {
	items := make([]flowmesh.EnqueueItem, len(c.Jobs))
	for i, it := range c.Jobs {
		items[i] = flowmesh.EnqueueItem{Payload: it.Payload, QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: time.Duration(it.Delay), DedupID: it.DedupId}}
	}
	if err := flowmesh.ValidateEnqueueBatch(items); err != nil {
		return err
	}
	for i, it := range c.Jobs {
		if n := len(it.Payload); n > maxPayload {
			return &flowmesh.LimitError{What: "jobs[" + strconv.Itoa(i) + "].payload bytes", Limit: int64(maxPayload), Got: int64(n)}
		}
	}
	return nil
}

// ValidateAckBatch checks a batch's receipts with flowmesh.ValidateAckBatch.
func ValidateAckBatch(c *fsmpb.AckBatch) error {
	rs := make([]flowmesh.Receipt, len(c.Receipts))
	for i, r := range c.Receipts {
		rs[i] = flowmesh.Receipt{JobID: r.JobId, Attempt: int(r.Attempt)}
	}
	return flowmesh.ValidateAckBatch(rs)
}

func (f *FSM) applyEnqueueBatch(ac *applyCtx, c *fsmpb.EnqueueBatch) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	if err := ValidateEnqueueBatch(c, int(r.meta.MaxPayload)); err != nil {
		return nil, err
	}
	// All or nothing: the batch's new jobs (not repeats of a dedup ID,
	// within the window or earlier in the batch) must fit the quota.
	var need usage
	seen := map[string]bool{}
	for _, it := range c.Jobs {
		if it.DedupId != "" {
			k := enqueueDedupKey(c.Path, r.meta.Revision, it.DedupId)
			if _, ok := f.dedup.get(k); ok || seen[k] {
				continue
			}
			seen[k] = true
		}
		need.QueueJobs++
		need.StoredBytes += int64(len(it.Payload))
		need.MemoryBytes += jobMemory(it.Payload)
	}
	if err := f.checkQuota(r.meta.Tenant, need); err != nil {
		return nil, err
	}
	q := r.queue
	prefix := strconv.FormatUint(ac.index, 10) + "." + strconv.Itoa(ac.pos) + "."
	res := &Result{Items: make([]ItemResult, 0, len(c.Jobs))}
	for i, it := range c.Jobs {
		dedupKey := ""
		if it.DedupId != "" {
			dedupKey = enqueueDedupKey(c.Path, r.meta.Revision, it.DedupId)
			if prev, ok := f.dedup.get(dedupKey); ok {
				res.Items = append(res.Items, ItemResult{JobID: prev.JobID, Seq: prev.Seq})
				continue
			}
		}
		// IDs "index.pos.i" never collide with single enqueues' "index.pos".
		j := &qjob{id: prefix + strconv.Itoa(i), payload: it.Payload, enqueuedAt: ac.stamp, readyAt: ac.stamp + it.Delay}
		if err := q.add(ac, j); err != nil {
			return nil, err
		}
		if dedupKey != "" {
			f.dedup.put(dedupKey, ac.stamp, &Result{JobID: j.id, Seq: j.seq})
		}
		res.Items = append(res.Items, ItemResult{JobID: j.id, Seq: j.seq})
	}
	return res, nil
}

func (f *FSM) applyReserveBatch(ac *applyCtx, c *fsmpb.ReserveBatch) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserveBatch(int(c.Max), time.Duration(c.Visibility)); err != nil {
		return nil, err
	}
	vis := c.Visibility
	if vis == 0 {
		vis = r.meta.VisibilityTimeout
	}
	q := r.queue
	if err := f.promote(ac, q); err != nil {
		return nil, err
	}
	res := &Result{}
	var bytes int64
	for len(res.Jobs) < int(c.Max) {
		top := q.nextReady()
		if top == nil {
			break
		}
		if c.MaxBytes > 0 && len(res.Jobs) > 0 && bytes+int64(len(top.payload)) > c.MaxBytes {
			break // the job stays ready, first in line for the next reservation
		}
		j, err := q.reserveNext(ac, vis)
		if err != nil {
			return nil, err
		}
		bytes += int64(len(j.payload))
		res.Jobs = append(res.Jobs, *j.public())
	}
	return res, nil
}

func (f *FSM) applyAckBatch(ac *applyCtx, c *fsmpb.AckBatch) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	if err := ValidateAckBatch(c); err != nil {
		return nil, err
	}
	q := r.queue
	res := &Result{Items: make([]ItemResult, len(c.Receipts))}
	for i, rc := range c.Receipts {
		j, err := q.current(c.Path, rc.JobId, rc.Attempt)
		if err != nil {
			res.Items[i].Err = err
			continue
		}
		if err := q.remove(ac, j); err != nil {
			return nil, err
		}
		res.Items[i].JobID = j.id
	}
	return res, nil
}

// enqueueDedupKey is the dedup window key of a queue's DedupID. The create
// revision keeps a re-created queue's DedupIDs apart.
func enqueueDedupKey(path string, revision uint64, dedupID string) string {
	return "enqueue/" + path + "@" + strconv.FormatUint(revision, 10) + "/" + dedupID
}

// reserveNext reserves the first valid job of the ready heap for vis, or
// returns nil when none is ready.
func (q *queueState) reserveNext(ac *applyCtx, vis int64) (*qjob, error) {
	j := q.nextReady()
	if j == nil {
		return nil, nil
	}
	heap.Pop(&q.ready)
	j.state, j.attempt, j.visibleUntil = jobInFlight, j.attempt+1, ac.stamp+vis
	if err := q.putRecord(ac, j, true); err != nil {
		return nil, err
	}
	if j.attempt > 1 {
		q.redelivered++
	}
	q.schedule(j)
	return j, nil
}

// nextReady drops stale entries (a job rescheduled, acked or removed since
// it was pushed) from the top of the ready heap and returns the first valid
// ready job, left on the heap, or nil when none is ready.
func (q *queueState) nextReady() *qjob {
	for q.ready.Len() > 0 {
		top := q.ready[0]
		if top.gen == top.job.gen && q.jobs[top.job.id] == top.job {
			return top.job
		}
		heap.Pop(&q.ready)
	}
	return nil
}

// remove deletes an acked job.
func (q *queueState) remove(ac *applyCtx, j *qjob) error {
	q.dropJob(j.id)
	j.gen++
	return q.write(ac, &fsmpb.QueueRecord{Op: &fsmpb.QueueRecord_Remove{Remove: j.id}})
}
