package workload

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// queue is the work-queue workload on one single-partition queue with a
// short visibility timeout: processes enqueue unique payloads, or reserve
// a job and then ack it, nack it (ready again at once) or abandon it (let
// the reservation expire). MaxAttempts is high so no job goes dead. The
// final phase drains the queue (reserve + ack) until it has stayed empty
// for twice the visibility timeout plus a second.
type queue struct {
	cfg  Config
	path string
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
	if p.Rand.IntN(2) == 0 {
		w.enqueue(ctx, p)
		return
	}
	job, ok := w.reserve(ctx, p, p.ID, p.Client, p.Node)
	if !ok || job == nil {
		return
	}
	switch r := p.Rand.IntN(10); {
	case r < 6:
		w.ack(ctx, p, p.ID, p.Client, p.Node, job)
	case r < 8:
		w.nack(ctx, p, job)
	default:
		h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Abandon, Key: w.path, JobID: job.ID, Attempt: job.Attempt, Value: string(job.Payload), Node: p.Node})
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
	h.OK(func(o *history.Op) { o.JobID, o.Attempt, o.Value = job.ID, job.Attempt, string(job.Payload) })
	return job, true
}

func (w *queue) ack(ctx context.Context, p *Process, proc int, c *client.Client, node string, job *flowmesh.Job) bool {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: proc, F: history.Ack, Key: w.path, JobID: job.ID, Attempt: job.Attempt, Value: string(job.Payload), Node: node})
	err := c.Ack(octx, w.path, job.Receipt)
	h.Error(err, nil)
	return err == nil
}

func (w *queue) nack(ctx context.Context, p *Process, job *flowmesh.Job) {
	octx, cancel := p.ctx(ctx)
	defer cancel()
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Nack, Key: w.path, JobID: job.ID, Attempt: job.Attempt, Value: string(job.Payload), Node: p.Node})
	h.Error(p.Client.Nack(octx, w.path, job.Receipt, 0), nil)
}

// Final drains the queue through the whole cluster.
func (w *queue) Final(ctx context.Context, env *Env) error {
	const finalProcess = 1 << 20
	p := NewProcess(finalProcess, env.Any, "", env.Seed, env)
	quiet := 2*w.cfg.Visibility + time.Second
	deadline := time.Now().Add(120 * time.Second)
	emptySince := time.Time{}
	for time.Now().Before(deadline) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		job, ok := w.reserve(ctx, p, finalProcess, env.Any, "")
		switch {
		case !ok:
			emptySince = time.Time{}
			time.Sleep(100 * time.Millisecond)
		case job == nil:
			if emptySince.IsZero() {
				emptySince = time.Now()
			}
			if time.Since(emptySince) > quiet {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		default:
			emptySince = time.Time{}
			w.ack(ctx, p, finalProcess, env.Any, "", job)
		}
	}
	return fmt.Errorf("workload: queue drain did not finish within 120s")
}

func (w *queue) Check(ops []history.Op, _ []history.Window, _ string) map[string]checker.Result {
	return map[string]checker.Result{"queue": checker.CheckQueue(ops, checker.QueueConfig{Visibility: w.cfg.Visibility, ClockSlack: w.cfg.ClockSlack})}
}
