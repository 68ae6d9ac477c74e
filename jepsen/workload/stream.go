package workload

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// stream is the log workload on one stream of Partitions partitions, no
// retention. Each process is a producer (its own producer ID, sequence
// numbers rising by one per append, one event per append) and a consumer
// (a cursor per partition, linearizable polls of up to 50 events that
// continue from the last offset seen, and now and then a re-seek to a
// random earlier offset). The final phase reads every partition from
// offset 0 on every node with stale reads, paging to the end.
type stream struct {
	cfg  Config
	path string
}

func newStream(cfg Config) *stream {
	return &stream{cfg: cfg.withDefaults(), path: flowmesh.JoinPath(tenant, namespace, "log")}
}

func (w *stream) Setup(ctx context.Context, c *client.Client) error {
	_, err := c.CreateStream(ctx, tenant, namespace, "log", w.cfg.Partitions)
	if errors.Is(err, flowmesh.ErrAlreadyExists) {
		err = nil
	}
	return err
}

type streamState struct {
	producer string
	seq      uint64
	next     map[int]uint64 // partition -> the cursor
}

func (w *stream) Step(ctx context.Context, p *Process) {
	st, _ := p.state.(*streamState)
	if st == nil {
		st = &streamState{producer: fmt.Sprintf("p%d", p.ID), next: map[int]uint64{}}
		p.state = st
	}
	part := p.Rand.IntN(w.cfg.Partitions)
	octx, cancel := p.ctx(ctx)
	defer cancel()
	if p.Rand.IntN(10) < 6 {
		st.seq++
		v := p.Value()
		h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Append, Key: w.path, Partition: part, Value: v, Producer: st.producer, Seq: st.seq, Node: p.Node})
		pos, err := p.Client.WriteEvents(octx, w.path, []flowmesh.StreamEvent{{Payload: []byte(v), Partition: part}}, flowmesh.WithProducer(st.producer, st.seq))
		if err == nil && len(pos) != 1 {
			err = fmt.Errorf("workload: %d positions for one event", len(pos))
		}
		if err != nil {
			h.Error(err, nil)
			return
		}
		h.OK(func(o *history.Op) { o.Offset, o.Partition = pos[0].Offset, pos[0].Partition })
		return
	}
	from, seek := st.next[part], false
	if from > 0 && p.Rand.IntN(10) == 0 {
		from, seek = uint64(p.Rand.IntN(int(from))), true
	}
	h := p.Env.Rec.Invoke(history.Op{Process: p.ID, F: history.Poll, Key: w.path, Partition: part, From: from, Seek: seek, Node: p.Node})
	msgs, err := p.Client.ReadFromOffset(octx, w.path, part, from, 50, flowmesh.WithConsistency(w.cfg.Reads))
	if err != nil {
		h.Error(err, nil)
		return
	}
	if len(msgs) > 0 {
		st.next[part] = msgs[len(msgs)-1].Offset + 1
	} else {
		st.next[part] = from
	}
	h.OK(func(o *history.Op) { o.Messages = messages(msgs) })
}

func messages(ms []flowmesh.Message) []history.Message {
	out := make([]history.Message, len(ms))
	for i, m := range ms {
		out[i] = history.Message{Offset: m.Offset, Value: string(m.Payload)}
	}
	return out
}

// Final reads every partition in full on every node.
func (w *stream) Final(ctx context.Context, env *Env) error {
	const finalProcess = 1 << 20
	var errs []error
	for i, node := range env.Nodes {
		c := env.Direct(i)
		for part := 0; part < w.cfg.Partitions; part++ {
			h := env.Rec.Invoke(history.Op{Process: finalProcess + i, F: history.FinalRead, Key: w.path, Partition: part, Node: node})
			all, err := readPartition(ctx, c, w.path, part, flowmesh.WithConsistency(flowmesh.Stale))
			if err != nil {
				h.Error(err, nil)
				errs = append(errs, fmt.Errorf("workload: final read of partition %d on %s: %w", part, node, err))
				continue
			}
			h.OK(func(o *history.Op) { o.Messages = all })
		}
	}
	return errors.Join(errs...)
}

func (w *stream) Check(ops []history.Op, _ []history.Window, _ string) map[string]checker.Result {
	parts := make([]int, w.cfg.Partitions)
	for i := range parts {
		parts[i] = i
	}
	return map[string]checker.Result{"stream": checker.CheckStream(ops, checker.StreamConfig{Partitions: parts})}
}
