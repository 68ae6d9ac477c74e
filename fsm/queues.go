package fsm

import (
	"container/heap"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/internal/vfs"
	"github.com/flowmesh/flowmesh/segment"
)

// Job states, stored in QueueRecord: append-only.
const (
	jobWaiting  int32 = 0 // ready once readyAt <= now
	jobInFlight int32 = 1 // reserved until visibleUntil
	jobDead     int32 = 2
)

type qjob struct {
	id           string
	seq          uint64
	payload      []byte
	enqueuedAt   int64
	readyAt      int64
	visibleUntil int64
	attempt      int32
	state        int32
	gen          uint64 // bumped on every change; heap entries of older gens are stale
}

type queueState struct {
	log     *segment.Log
	meta    *fsmpb.Resource
	nextSeq uint64
	jobs    map[string]*qjob
	ready   jobHeap // eligible jobs by seq
	timers  jobHeap // waiting or in-flight jobs by the time they become eligible
	bytes   int64   // the jobs' payload bytes
	tu      *usage  // the tenant's use; nil while opening
	mem     *int64  // the cluster's memory use; nil while opening

	// redelivered and killed count, since this process opened the queue,
	// the reservations of a job already reserved before (attempt > 1:
	// after its visibility timeout or a nack) and the jobs that went dead,
	// as this node applied them (not persisted: counters, for /metrics).
	redelivered, killed uint64
}

// setJob puts j in the jobs map and keeps the byte and job counts.
func (q *queueState) setJob(j *qjob) {
	d, n := int64(len(j.payload)), int64(1)
	if old := q.jobs[j.id]; old != nil {
		d -= int64(len(old.payload))
		n = 0
	}
	q.jobs[j.id] = j
	q.account(d, n)
}

// dropJob removes a job from the jobs map and the counts.
func (q *queueState) dropJob(id string) {
	old := q.jobs[id]
	if old == nil {
		return
	}
	delete(q.jobs, id)
	q.account(-int64(len(old.payload)), -1)
	q.compactHeaps()
}

// heapSlack is how many stale heap entries a queue tolerates beyond one
// per job before compactHeaps rebuilds its heaps.
const heapSlack = 64

// compactHeaps drops the stale entries of both heaps once they hold more
// than twice the jobs (plus heapSlack). Entries go stale on every touch,
// nack or removal and otherwise leave only when they reach the top, which
// takes up to MaxVisibility or MaxDelay: a worker touching one job in a
// loop would grow the timers heap without bound, and a purged or acked
// job's entry would keep its payload in memory after its bytes left the
// memory quota. Rebuilding is O(live) and happens after at least as many
// pushes or removals, so amortised O(1). It changes nothing a replica
// answers: live entries pop in (key, seq) order, whatever the heap's layout.
func (q *queueState) compactHeaps() {
	if q.timers.Len()+q.ready.Len() <= 2*len(q.jobs)+heapSlack {
		return
	}
	q.timers = q.liveEntries(q.timers)
	q.ready = q.liveEntries(q.ready)
}

func (q *queueState) liveEntries(h jobHeap) jobHeap {
	out := make(jobHeap, 0, len(q.jobs))
	for _, it := range h {
		if it.gen == it.job.gen && q.jobs[it.job.id] == it.job {
			out = append(out, it)
		}
	}
	heap.Init(&out)
	return out
}

// account adds d payload bytes and n jobs to the queue's and its tenant's
// use, and their memory charge to the cluster's.
func (q *queueState) account(d, n int64) {
	q.bytes += d
	if q.tu != nil {
		m := d + n*flowmesh.MemoryPerJob
		q.tu.StoredBytes += d
		q.tu.QueueJobs += n
		q.tu.MemoryBytes += m
		*q.mem += m
	}
}

type heapItem struct {
	job *qjob
	gen uint64
	key int64 // seq for ready, time for timers
}

type jobHeap []heapItem

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(i, j int) bool {
	if h[i].key != h[j].key {
		return h[i].key < h[j].key
	}
	return h[i].job.seq < h[j].job.seq
}
func (h jobHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *jobHeap) Push(x any)   { *h = append(*h, x.(heapItem)) }
func (h *jobHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func openQueue(dir string, m *fsmpb.Resource, cfg segment.Config, index uint64) (*queueState, error) {
	if err := recoverCompaction(vfs.Or(cfg.FS), dir); err != nil {
		return nil, err
	}
	l, err := openLog(filepath.Join(dir, "log"), cfg, index)
	if err != nil {
		return nil, err
	}
	q := &queueState{log: l, meta: m, jobs: map[string]*qjob{}}
	err = forEachRecord(l, l.EarliestOffset(), func(rec segment.Record) error {
		qr := &fsmpb.QueueRecord{}
		if err := proto.Unmarshal(rec.Payload, qr); err != nil {
			return fmt.Errorf("queue record at offset %d: %w", rec.Offset, err)
		}
		q.replay(qr)
		return nil
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	ids := make([]string, 0, len(q.jobs))
	for id := range q.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		q.schedule(q.jobs[id])
	}
	return q, nil
}

func (q *queueState) replay(qr *fsmpb.QueueRecord) {
	q.nextSeq = qr.NextSeq
	switch op := qr.Op.(type) {
	case *fsmpb.QueueRecord_Put:
		j := jobFromRecord(op.Put)
		if old := q.jobs[j.id]; old != nil && qr.StateOnly {
			j.payload = old.payload
		}
		q.setJob(j)
	case *fsmpb.QueueRecord_Remove:
		q.dropJob(op.Remove)
	}
}

func jobFromRecord(p *fsmpb.Job) *qjob {
	return &qjob{id: p.Id, seq: p.Seq, payload: p.Payload, enqueuedAt: p.EnqueuedAt, readyAt: p.ReadyAt,
		visibleUntil: p.VisibleUntil, attempt: p.Attempt, state: p.State}
}

func jobFromPB(p *fsmpb.Job) *flowmesh.Job {
	return &flowmesh.Job{ID: p.Id, Seq: p.Seq, Payload: p.Payload, Attempt: int(p.Attempt),
		EnqueuedAt: time.Unix(0, p.EnqueuedAt).UTC(), VisibleUntil: time.Unix(0, p.VisibleUntil).UTC(),
		Receipt: flowmesh.Receipt{JobID: p.Id, Attempt: int(p.Attempt)}}
}

func (j *qjob) public() *flowmesh.Job {
	out := &flowmesh.Job{ID: j.id, Seq: j.seq, Payload: j.payload, Attempt: int(j.attempt),
		EnqueuedAt: time.Unix(0, j.enqueuedAt).UTC(), Receipt: flowmesh.Receipt{JobID: j.id, Attempt: int(j.attempt)}}
	if j.state == jobInFlight {
		out.VisibleUntil = time.Unix(0, j.visibleUntil).UTC()
	}
	return out
}

// schedule files a job into the heap that matches its state.
func (q *queueState) schedule(j *qjob) {
	j.gen++
	switch j.state {
	case jobWaiting:
		heap.Push(&q.timers, heapItem{job: j, gen: j.gen, key: j.readyAt})
	case jobInFlight:
		heap.Push(&q.timers, heapItem{job: j, gen: j.gen, key: j.visibleUntil})
	}
	q.compactHeaps()
}

// write stages a record for the queue's log.
func (q *queueState) write(ac *applyCtx, qr *fsmpb.QueueRecord) error {
	qr.NextSeq = q.nextSeq
	b, err := proto.Marshal(qr)
	if err != nil {
		return fatalError{err}
	}
	ac.f.stage(q.log, segment.Record{Index: ac.index, Timestamp: ac.stamp, Payload: b})
	return nil
}

func (q *queueState) putRecord(ac *applyCtx, j *qjob, stateOnly bool) error {
	p := &fsmpb.Job{Id: j.id, Seq: j.seq, EnqueuedAt: j.enqueuedAt, ReadyAt: j.readyAt,
		VisibleUntil: j.visibleUntil, Attempt: j.attempt, State: j.state}
	if !stateOnly {
		p.Payload = j.payload
	}
	return q.write(ac, &fsmpb.QueueRecord{Op: &fsmpb.QueueRecord_Put{Put: p}, StateOnly: stateOnly})
}

// checkEnqueue checks a logged enqueue with flowmesh.ValidateEnqueue, as
// the node did before proposing, and its payload against the queue's own
// limit (maxPayload), which needs the queue.
func checkEnqueue(c *fsmpb.Enqueue, maxPayload int) error {
	if err := flowmesh.ValidateEnqueue(c.Payload, flowmesh.QueueEnqueueOptions{Delay: time.Duration(c.Delay), DedupID: c.DedupId}); err != nil {
		return err
	}
	if len(c.Payload) > maxPayload {
		return &flowmesh.LimitError{What: "payload bytes (the queue's max_payload)", Limit: int64(maxPayload), Got: int64(len(c.Payload))}
	}
	return nil
}

func (f *FSM) applyEnqueue(ac *applyCtx, c *fsmpb.Enqueue) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	if err := checkEnqueue(c, int(r.meta.MaxPayload)); err != nil {
		return nil, err
	}
	dedupKey := ""
	if c.DedupId != "" {
		dedupKey = enqueueDedupKey(c.Path, r.meta.Revision, c.DedupId)
		if res, ok := f.dedup.get(dedupKey); ok {
			return res, nil
		}
	}
	if err := f.checkQuota(r.meta.Tenant, usage{QueueJobs: 1, StoredBytes: int64(len(c.Payload)), MemoryBytes: jobMemory(c.Payload)}); err != nil {
		return nil, err
	}
	q := r.queue
	j := &qjob{id: jobID(ac), payload: c.Payload, enqueuedAt: ac.stamp, readyAt: ac.stamp + c.Delay}
	if err := q.add(ac, j); err != nil {
		return nil, err
	}
	res := &Result{JobID: j.id, Seq: j.seq}
	if dedupKey != "" {
		f.dedup.put(dedupKey, ac.stamp, res)
	}
	return res, nil
}

func jobID(ac *applyCtx) string {
	return strconv.FormatUint(ac.index, 10) + "." + strconv.Itoa(ac.pos)
}

// add puts a new job at the end of the queue.
func (q *queueState) add(ac *applyCtx, j *qjob) error {
	q.nextSeq++
	j.seq = q.nextSeq
	j.state = jobWaiting
	q.setJob(j)
	if err := q.putRecord(ac, j, false); err != nil {
		return err
	}
	q.schedule(j)
	return nil
}

// promote moves every job that became eligible by now into the ready heap,
// and kills jobs whose last allowed reservation expired.
func (f *FSM) promote(ac *applyCtx, q *queueState) error {
	for q.timers.Len() > 0 && q.timers[0].key <= ac.stamp {
		it := heap.Pop(&q.timers).(heapItem)
		j := it.job
		if it.gen != j.gen || q.jobs[j.id] != j {
			continue
		}
		if j.state == jobInFlight {
			if j.attempt >= q.meta.MaxAttempts {
				if err := f.kill(ac, q, j); err != nil {
					return err
				}
				continue
			}
			j.state, j.readyAt = jobWaiting, j.visibleUntil
			if err := q.putRecord(ac, j, true); err != nil {
				return err
			}
			j.gen++
		}
		heap.Push(&q.ready, heapItem{job: j, gen: j.gen, key: int64(j.seq)})
	}
	return nil
}

// kill makes a job dead: moved to the dead-letter queue when there is one,
// else kept here and marked dead.
func (f *FSM) kill(ac *applyCtx, q *queueState, j *qjob) error {
	q.killed++
	if q.meta.DeadLetterQueue != "" {
		if dlq, err := f.lookup(q.meta.DeadLetterQueue, flowmesh.KindQueue); err == nil {
			q.dropJob(j.id)
			j.gen++
			if err := q.write(ac, &fsmpb.QueueRecord{Op: &fsmpb.QueueRecord_Remove{Remove: j.id}}); err != nil {
				return err
			}
			moved := &qjob{id: j.id, payload: j.payload, enqueuedAt: j.enqueuedAt, readyAt: ac.stamp}
			return dlq.queue.add(ac, moved)
		}
	}
	j.state = jobDead
	j.gen++
	return q.putRecord(ac, j, true)
}

func (f *FSM) applyReserve(ac *applyCtx, c *fsmpb.Reserve) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserve(time.Duration(c.Visibility)); err != nil {
		return nil, err
	}
	vis := c.Visibility
	if vis == 0 {
		vis = r.meta.VisibilityTimeout
	}
	if vis < 0 || vis > int64(flowmesh.MaxVisibility) {
		return nil, flowmesh.Invalid("visibility", "%v is outside (0, %v]", time.Duration(vis), flowmesh.MaxVisibility)
	}
	q := r.queue
	if err := f.promote(ac, q); err != nil {
		return nil, err
	}
	j, err := q.reserveNext(ac, vis)
	if err != nil {
		return nil, err
	}
	if j == nil {
		return &Result{}, nil
	}
	return &Result{Job: j.public()}, nil
}

// current finds the in-flight job named by a receipt. Only the exact
// attempt of the current reservation matches: there is no wildcard (an
// attempt 0 matches nothing), so a holder whose reservation expired can
// never ack, nack or touch the reservation of the worker that holds the
// job now, whichever API it came through (storage resolves
// RemoveFromInFlight's job ID to a receipt, flowmesh.ParseReservationID).
// receipt is the receipt of j's current reservation.
func (j *qjob) receipt() flowmesh.Receipt {
	return flowmesh.Receipt{JobID: j.id, Attempt: int(j.attempt)}
}

func (q *queueState) current(path, id string, attempt int32) (*qjob, error) {
	j := q.jobs[id]
	if j == nil {
		return nil, fmt.Errorf("%w: job %s in %s", flowmesh.ErrNotFound, id, path)
	}
	if j.state != jobInFlight || attempt != j.attempt {
		return nil, fmt.Errorf("%w: job %s attempt %d is not the current reservation", flowmesh.ErrStaleReceipt, id, attempt)
	}
	return j, nil
}

func (f *FSM) applyAck(ac *applyCtx, c *fsmpb.Ack) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	q := r.queue
	j, err := q.current(c.Path, c.JobId, c.Attempt)
	if err != nil {
		return nil, err
	}
	if err := q.remove(ac, j); err != nil {
		return nil, err
	}
	return &Result{}, nil
}

func (f *FSM) applyNack(ac *applyCtx, c *fsmpb.Nack) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	q := r.queue
	j, err := q.current(c.Path, c.JobId, c.Attempt)
	if err != nil {
		return nil, err
	}
	// After the receipt's state: a logged attempt 0 is a stale receipt.
	if err := flowmesh.ValidateNack(j.receipt(), time.Duration(c.Delay)); err != nil {
		return nil, err
	}
	if j.attempt >= q.meta.MaxAttempts {
		return &Result{}, f.kill(ac, q, j)
	}
	j.state, j.readyAt = jobWaiting, ac.stamp+c.Delay
	if err := q.putRecord(ac, j, true); err != nil {
		return nil, err
	}
	q.schedule(j)
	return &Result{}, nil
}

func (f *FSM) applyTouch(ac *applyCtx, c *fsmpb.Touch) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	q := r.queue
	j, err := q.current(c.Path, c.JobId, c.Attempt)
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateTouch(j.receipt(), time.Duration(c.Visibility)); err != nil {
		return nil, err
	}
	if j.visibleUntil <= ac.stamp {
		return nil, fmt.Errorf("%w: reservation of job %s expired", flowmesh.ErrStaleReceipt, j.id)
	}
	j.visibleUntil = ac.stamp + c.Visibility
	if err := q.putRecord(ac, j, true); err != nil {
		return nil, err
	}
	q.schedule(j)
	return &Result{}, nil
}

func (f *FSM) applyPurge(ac *applyCtx, c *fsmpb.Purge) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	q := r.queue
	n := 0
	for _, id := range q.sortedIDs() {
		j := q.jobs[id]
		if j.state == jobInFlight {
			continue
		}
		q.dropJob(id)
		j.gen++
		if err := q.write(ac, &fsmpb.QueueRecord{Op: &fsmpb.QueueRecord_Remove{Remove: id}}); err != nil {
			return nil, err
		}
		n++
	}
	return &Result{Count: n}, nil
}

func (f *FSM) applyRedrive(ac *applyCtx, c *fsmpb.Redrive) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	q := r.queue
	n := 0
	for _, j := range q.dead() {
		if c.Max > 0 && n >= int(c.Max) {
			break
		}
		j.state, j.attempt, j.readyAt = jobWaiting, 0, ac.stamp
		if err := q.putRecord(ac, j, true); err != nil {
			return nil, err
		}
		q.schedule(j)
		n++
	}
	return &Result{Count: n}, nil
}

func (q *queueState) sortedIDs() []string {
	ids := make([]string, 0, len(q.jobs))
	for id := range q.jobs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return q.jobs[ids[a]].seq < q.jobs[ids[b]].seq })
	return ids
}

func (q *queueState) dead() []*qjob {
	var out []*qjob
	for _, j := range q.jobs {
		if j.state == jobDead {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].seq < out[b].seq })
	return out
}

// QueueStats counts a queue's jobs as of now.
func (f *FSM) QueueStats(path string, now int64) (flowmesh.QueueStats, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindQueue)
	if err != nil {
		return flowmesh.QueueStats{}, err
	}
	var st flowmesh.QueueStats
	oldest := int64(-1)
	for _, j := range r.queue.jobs {
		switch {
		case j.state == jobDead:
			st.Dead++
		case j.state == jobInFlight && j.visibleUntil > now:
			st.InFlight++
		case j.state == jobWaiting && j.readyAt > now:
			st.Delayed++
		default:
			st.Ready++
			if oldest < 0 || j.enqueuedAt < oldest {
				oldest = j.enqueuedAt
			}
		}
	}
	if oldest >= 0 && now > oldest {
		st.OldestReadyAge = time.Duration(now - oldest)
	}
	return st, nil
}

// QueueCounters says how many reservations of path were redeliveries
// (attempt > 1) and how many of its jobs went dead (to its dead-letter queue
// or marked dead), as this FSM applied them since the process opened the
// queue: in-memory counters that start at zero on a restart, a snapshot
// restore or a re-created queue (the replay of durable entries at start
// does not count them again).
func (f *FSM) QueueCounters(path string) (redelivered, dead uint64, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindQueue)
	if err != nil {
		return 0, 0, err
	}
	return r.queue.redelivered, r.queue.killed, nil
}

// ListDead returns up to limit dead jobs in sequence order.
func (f *FSM) ListDead(path string, limit int) ([]flowmesh.Job, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindQueue)
	if err != nil {
		return nil, err
	}
	var out []flowmesh.Job
	for _, j := range r.queue.dead() {
		if limit > 0 && len(out) >= limit {
			break
		}
		p := j.public()
		p.Receipt = flowmesh.Receipt{}
		out = append(out, *p)
	}
	return out, nil
}

// NextReady returns when the queue next has a job to hand out: now if one
// is ready, else the earliest delay or visibility end, or ok=false.
func (f *FSM) NextReady(path string, now int64) (at int64, ok bool, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindQueue)
	if err != nil {
		return 0, false, err
	}
	for _, j := range r.queue.jobs {
		var t int64
		switch j.state {
		case jobWaiting:
			t = j.readyAt
		case jobInFlight:
			t = j.visibleUntil
		default:
			continue
		}
		if !ok || t < at {
			at, ok = t, true
		}
	}
	return at, ok, nil
}
