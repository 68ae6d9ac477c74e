package workload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// queue is the work-queue workload on one single-partition queue with a
// short visibility timeout: processes enqueue unique payloads (40% of
// steps), or reserve a job and then ack it (80%), nack it (ready again at
// once, 10%) or abandon it (let the reservation expire, 10%) — consumers
// outpace producers, so no backlog builds over long runs. MaxAttempts is
// high so no job goes dead. The final phase drains the queue (reserve +
// ack) until it has stayed empty for twice the visibility timeout plus a
// second.
type queue struct {
	cfg  Config
	path string

	mu      sync.Mutex
	drained bool
}

func newQueue(cfg Config) *queue {
	return &queue{cfg: cfg.withDefaults(), path: flowmesh.JoinPath(tenant, namespace, "jobs")}
}

func (w *queue) Setup(ctx context.Context, c *client.Client) error {
	_, err := c.CreateQueue(ctx, tenant, namespace, "jobs", 1,
		flowmesh.WithVisibilityTimeout(w.cfg.Visibility), flowmesh.WithMaxAttempts(1000))
	if errors.Is(err, flowmesh.ErrAlreadyExists) {
		err = nil
	}
	return err
}

func (w *queue) Step(ctx context.Context, p *Process) {
	if p.Rand.IntN(10) < 4 {
		w.enqueue(ctx, p)
		return
	}
	job, ok := w.reserve(ctx, p, p.ID, p.Client, p.Node)
	if !ok || job == nil {
		return
	}
	switch r := p.Rand.IntN(10); {
	case r < 8:
		w.ack(ctx, p, p.ID, p.Client, p.Node, job)
	case r < 9:
		w.nack(ctx, p, job)
	default:
		h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Abandon, Key: w.path, JobID: job.Receipt.JobID, Attempt: job.Attempt, Value: string(job.Payload), Node: p.Node})
		h.OK(nil)
	}
}

func (w *queue) enqueue(ctx context.Context, p *Process) {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	v := p.Value()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Enqueue, Key: w.path, Value: v, Node: p.Node})
	id, _, err := p.Client.Enqueue(octx, w.path, []byte(v), flowmesh.QueueEnqueueOptions{})
	if err != nil {
		h.Error(err, nil)
		return
	}
	h.OK(func(o *history.Op) { o.JobID = id })
}

// reserve records one reservation; ok is false when it did not complete ok.
func (w *queue) reserve(ctx context.Context, p *Process, proc int, c *client.Client, node string) (*flowmesh.Job, bool) {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: proc, F: history.Reserve, Key: w.path, Node: node})
	job, err := c.Reserve(octx, w.path, w.cfg.Visibility)
	if err != nil {
		h.Error(err, nil)
		return nil, false
	}
	if job == nil {
		h.OK(nil)
		return nil, true
	}
	h.OK(func(o *history.Op) { o.JobID, o.Attempt, o.Value = job.Receipt.JobID, job.Attempt, string(job.Payload) })
	return job, true
}

func (w *queue) ack(ctx context.Context, p *Process, proc int, c *client.Client, node string, job *flowmesh.Job) bool {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: proc, F: history.Ack, Key: w.path, JobID: job.Receipt.JobID, Attempt: job.Attempt, Value: string(job.Payload), Node: node})
	err := c.Ack(octx, w.path, job.Receipt)
	h.Error(err, nil)
	return err == nil
}

func (w *queue) nack(ctx context.Context, p *Process, job *flowmesh.Job) {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Nack, Key: w.path, JobID: job.Receipt.JobID, Attempt: job.Attempt, Value: string(job.Payload), Node: p.Node})
	h.Error(p.Client.Nack(octx, w.path, job.Receipt, 0), nil)
}

// Final drains the queue through the whole cluster with several
// workers; each stops once it has found the queue empty for twice the
// visibility timeout plus a second. The drain is bounded (5 minutes); an
// unfinished drain makes lost jobs undecidable (see Check).
func (w *queue) Final(ctx context.Context, env *Env) error {
	const finalProcess, workers = 1 << 20, 4
	quiet := 2*w.cfg.Visibility + time.Second
	deadline := time.Now().Add(5 * time.Minute)
	var wg sync.WaitGroup
	unfinished := make(chan struct{}, workers)
	for k := 0; k < workers; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := NewProcess(finalProcess+k, env.Any, "", env.Seed, env)
			emptySince := time.Time{}
			for time.Now().Before(deadline) && ctx.Err() == nil {
				job, ok := w.reserve(ctx, p, p.ID, env.Any, "")
				switch {
				case !ok:
					emptySince = time.Time{}
					time.Sleep(100 * time.Millisecond)
				case job == nil:
					if emptySince.IsZero() {
						emptySince = time.Now()
					}
					if time.Since(emptySince) > quiet {
						return
					}
					time.Sleep(100 * time.Millisecond)
				default:
					emptySince = time.Time{}
					w.ack(ctx, p, p.ID, env.Any, "", job)
				}
			}
			unfinished <- struct{}{}
		}()
	}
	wg.Wait()
	if len(unfinished) > 0 {
		return fmt.Errorf("workload: queue drain did not finish within 5 minutes")
	}
	w.mu.Lock()
	w.drained = true
	w.mu.Unlock()
	return nil
}

// Check runs the queue checker. Without a finished drain a job never
// delivered may still sit in the queue, so "lost" cannot be decided: it is
// dropped and the result is at best unknown.
func (w *queue) Check(ops []history.Op, _ []history.Window, _ string) map[string]checker.Result {
	r := checker.CheckQueue(ops, checker.QueueConfig{Visibility: w.cfg.Visibility, ClockSlack: w.cfg.ClockSlack})
	w.mu.Lock()
	drained := w.drained
	w.mu.Unlock()
	if !drained {
		if n := r.Anomalies[checker.QueueLost]; n > 0 {
			delete(r.Anomalies, checker.QueueLost)
			delete(r.Examples, checker.QueueLost)
			r.Notes = append(r.Notes, fmt.Sprintf("%d jobs never delivered, but the final drain did not finish: lost is undecided", n))
		}
		if len(r.Anomalies) == 0 {
			r.Valid = checker.Unknown
		}
		r.Notes = append(r.Notes, "the final drain did not finish")
	}
	return map[string]checker.Result{"queue": r}
}
