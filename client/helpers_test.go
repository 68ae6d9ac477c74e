package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// TestIterators: Entries pages through List (2500 keys, 1000 a page) in
// key order; Changes and Messages yield a watch's and a subscription's
// items and end when the loop breaks.
func TestIterators(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx := ctxFor(t)
	kv, err := c.CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2500 {
		if _, err := c.Put(ctx, kv.GetPath(), fmt.Sprintf("k%05d", i), []byte("v"), flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	for e, err := range c.Entries(ctx, kv.GetPath(), "k") {
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("k%05d", i); e.Key != want {
			t.Fatalf("entry %d = %s, want %s", i, e.Key, want)
		}
		i++
	}
	if i != 2500 {
		t.Fatalf("Entries yielded %d keys, want 2500", i)
	}

	var revs []uint64
	for ev, err := range c.Changes(ctx, kv.GetPath(), "k0000", 1) {
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, ev.Revision)
		if len(revs) == 5 {
			break // ends the watch
		}
	}
	if len(revs) != 5 || revs[0] >= revs[4] {
		t.Fatalf("Changes = %v", revs)
	}

	s, err := c.CreateStream(ctx, "t1", "ns", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("a")}, {Payload: []byte("b")}, {Payload: []byte("c")}}); err != nil {
		t.Fatal(err)
	}
	var got string
	for m, err := range c.Messages(ctx, s.GetPath(), 0, 1) {
		if err != nil {
			t.Fatal(err)
		}
		got += string(m.Payload)
		if m.Offset == 2 {
			break
		}
	}
	if got != "bc" {
		t.Fatalf("Messages from offset 1 = %q, want bc", got)
	}
	// An error ends the iteration with it.
	for _, err := range c.Messages(ctx, "t1/ns/missing", 0, 0) {
		if !errors.Is(err, flowmesh.ErrNotFound) {
			t.Fatalf("Messages of a missing stream: %v, want ErrNotFound", err)
		}
	}
}

// TestConsume: a consumer group starts at its committed offset, commits
// what fn accepted (not the message fn failed on), and resumes there.
func TestConsume(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx := ctxFor(t)
	s, err := c.CreateStream(ctx, "t1", "ns", "events", 1)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]flowmesh.StreamEvent, 250)
	for i := range evs {
		evs[i] = flowmesh.StreamEvent{Payload: []byte(fmt.Sprint(i))}
	}
	if _, err := c.WriteEvents(ctx, s.GetPath(), evs); err != nil {
		t.Fatal(err)
	}
	errFull := errors.New("full")
	var seen []uint64
	err = c.Consume(ctx, s.GetPath(), "billing", 0, func(m flowmesh.Message) error {
		if m.Offset == 150 {
			return errFull
		}
		seen = append(seen, m.Offset)
		return nil
	}, client.ConsumeOptions{CommitEvery: 100})
	if !errors.Is(err, errFull) || len(seen) != 150 {
		t.Fatalf("Consume = %v after %d messages, want errFull after 150", err, len(seen))
	}
	if off, err := c.FetchOffset(ctx, s.GetPath(), "billing", 0); err != nil || off != 150 {
		t.Fatalf("committed offset = %d, %v; want 150 (the failed message is not committed)", off, err)
	}

	cctx, cancel := context.WithCancel(ctx)
	seen = seen[:0]
	err = c.Consume(cctx, s.GetPath(), "billing", 0, func(m flowmesh.Message) error {
		seen = append(seen, m.Offset)
		if m.Offset == 249 {
			cancel()
		}
		return nil
	}, client.ConsumeOptions{})
	if !errors.Is(err, context.Canceled) || len(seen) != 100 || seen[0] != 150 {
		t.Fatalf("second Consume = %v, offsets %d..(%d of them); want 150..249", err, seen[0], len(seen))
	}
	if off, err := c.FetchOffset(ctx, s.GetPath(), "billing", 0); err != nil || off != 250 {
		t.Fatalf("committed offset after the second run = %d, %v; want 250 (committed as Consume returned)", off, err)
	}
}

// TestWork: handlers run concurrently; a handler slower than the
// visibility timeout keeps its job (Work extends the reservation), a
// failing one is nacked and redelivered, and every job ends acked.
func TestWork(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx := ctxFor(t)
	q, err := c.CreateQueue(ctx, "t1", "ns", "jobs", 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, _, err := c.Enqueue(ctx, q.GetPath(), []byte(fmt.Sprint(i)), flowmesh.QueueEnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		attempts = map[string][]int{}
		done     = map[string]bool{}
		running  int
		peak     int
	)
	wctx, stop := context.WithCancel(ctx)
	err = c.Work(wctx, q.GetPath(), func(ctx context.Context, job *flowmesh.Job) error {
		p := string(job.Payload)
		mu.Lock()
		attempts[p] = append(attempts[p], job.Attempt)
		running++
		peak = max(peak, running)
		mu.Unlock()
		defer func() {
			mu.Lock()
			running--
			mu.Unlock()
		}()
		switch {
		case p == "0":
			// Three visibility timeouts: only the extensions keep it.
			select {
			case <-time.After(3 * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		case p == "1" && job.Attempt == 1:
			return errors.New("transient")
		default:
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		done[p] = true
		if len(done) == 10 {
			stop()
		}
		mu.Unlock()
		return nil
	}, client.WorkerOptions{Visibility: time.Second, Concurrency: 3, Wait: 100 * time.Millisecond,
		OnError: func(job *flowmesh.Job, err error) { t.Errorf("job %s: %v", job.Payload, err) }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Work = %v, want context.Canceled after the last job", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := attempts["0"]; len(got) != 1 {
		t.Errorf("the slow job ran %d times (attempts %v): its reservation was not extended", len(got), got)
	}
	if got := attempts["1"]; len(got) != 2 || got[1] != 2 {
		t.Errorf("the failing job's attempts = %v, want [1 2]", got)
	}
	if peak < 2 || peak > 3 {
		t.Errorf("peak concurrency %d, want 2..3", peak)
	}
	st, err := c.Stats(ctx, q.GetPath())
	if err != nil || st.Ready+st.InFlight+st.Delayed+st.Dead != 0 {
		t.Errorf("queue after Work: %+v, %v; want every job acked", st, err)
	}
}
