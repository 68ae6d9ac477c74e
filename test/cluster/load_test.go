package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// retryingConfig is an SDK config that rides out a failover: it keeps
// retrying (with the same request ID) for as long as the call's ctx allows.
func retryingConfig() client.Config {
	return client.Config{
		MaxRetries:  1000,
		BackoffBase: 20 * time.Millisecond,
		BackoffMax:  250 * time.Millisecond,
		DialTimeout: 2 * time.Second,
	}
}

// ack is one acknowledged stream write.
type ack struct {
	id string
	at time.Time
}

// load writes single events to a stream from several SDK clients, one
// goroutine each. Event i of writer g has request ID, key and payload
// "w<g>-<i>"; a failed write is retried with the same ID until it is
// acknowledged, so every write ends acknowledged and the stream must hold
// each ID exactly once.
type load struct {
	path string
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	acks  []ack
	errs  []error // errors that reached the caller (each was then retried)
	lastE time.Time
}

func startLoad(t *testing.T, clients []*client.Client, path string) *load {
	t.Helper()
	l := &load{path: path, stop: make(chan struct{})}
	for g, cl := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := fmt.Sprintf("w%d-%d", g, i)
				for attempt := 0; ; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err := cl.WriteEvents(ctx, path, []flowmesh.StreamEvent{{Key: id, Payload: []byte(id)}}, flowmesh.WithRequestID(id))
					cancel()
					if err == nil {
						l.mu.Lock()
						l.acks = append(l.acks, ack{id, time.Now()})
						l.mu.Unlock()
						break
					}
					l.mu.Lock()
					l.errs = append(l.errs, fmt.Errorf("%s attempt %d: %w", id, attempt, err))
					l.lastE = time.Now()
					l.mu.Unlock()
					if attempt >= 20 {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(l.finish)
	return l
}

// finish stops the writers and waits for their last writes; idempotent.
func (l *load) finish() {
	l.mu.Lock()
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// acked returns the number of acknowledged writes, and how many were
// acknowledged after since.
func (l *load) acked(since time.Time) (total, after int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.acks {
		if a.at.After(since) {
			after++
		}
	}
	return len(l.acks), after
}

// waitAcked waits until n writes were acknowledged after since.
func (l *load) waitAcked(t *testing.T, since time.Time, n int, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d writes acknowledged", n), func() error {
		if _, after := l.acked(since); after < n {
			return fmt.Errorf("%d acknowledged", after)
		}
		return nil
	})
}

func (l *load) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.acks))
	for i, a := range l.acks {
		out[i] = a.id
	}
	return out
}

func (l *load) errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.errs)
}

// streamContents reads every partition of path from offset 0 on nd alone,
// with stale reads, and returns where each payload is ("partition/offset"),
// once per copy.
func streamContents(nd *Node, path string, partitions int) (map[string][]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string][]string{}
	for p := range partitions {
		var off uint64
		for {
			msgs, err := nd.Client().ReadFromOffset(ctx, path, p, off, 5000, flowmesh.WithConsistency(flowmesh.Stale))
			var oor *flowmesh.OffsetOutOfRangeError
			if errors.As(err, &oor) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: read partition %d from %d: %w", nd.ID, p, off, err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				out[string(m.Payload)] = append(out[string(m.Payload)], fmt.Sprintf("%d/%d", m.Partition, m.Offset))
				off = m.Offset + 1
			}
		}
	}
	return out, nil
}

// kvContents lists every key of path on nd alone, with stale reads.
func kvContents(nd *Node, path string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string]string{}
	after := ""
	for {
		es, err := nd.Client().List(ctx, path, "", after, 1000, flowmesh.WithConsistency(flowmesh.Stale))
		if err != nil {
			return nil, fmt.Errorf("%s: list: %w", nd.ID, err)
		}
		if len(es) == 0 {
			return out, nil
		}
		for _, e := range es {
			out[e.Key] = string(e.Value)
			after = e.Key
		}
	}
}

// waitStreamsConverge waits until every running node holds the same events
// at the same partitions and offsets, every ID in want exactly once, and no
// event twice.
func waitStreamsConverge(t *testing.T, c *Cluster, path string, partitions int, want []string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "stream contents converge on every node", func() error {
		var first map[string][]string
		var firstID string
		for _, nd := range c.Running() {
			got, err := streamContents(nd, path, partitions)
			if err != nil {
				return err
			}
			for _, id := range want {
				if len(got[id]) != 1 {
					return fmt.Errorf("%s holds %s at %v, want once (%d events)", nd.ID, id, got[id], len(got))
				}
			}
			for id, at := range got {
				if len(at) != 1 {
					return fmt.Errorf("%s holds %s at %v", nd.ID, id, at)
				}
			}
			if first == nil {
				first, firstID = got, nd.ID
				continue
			}
			if !maps.EqualFunc(first, got, slices.Equal) {
				return fmt.Errorf("%s (%d events) and %s (%d events) differ", firstID, len(first), nd.ID, len(got))
			}
		}
		return nil
	})
}

// waitKVConverge waits until every running node holds exactly want.
func waitKVConverge(t *testing.T, c *Cluster, path string, want map[string]string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, "kv contents converge on every node", func() error {
		for _, nd := range c.Running() {
			got, err := kvContents(nd, path)
			if err != nil {
				return err
			}
			if !maps.Equal(got, want) {
				return fmt.Errorf("%s holds %d keys, want %d", nd.ID, len(got), len(want))
			}
		}
		return nil
	})
}
