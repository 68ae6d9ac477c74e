package flowmeshtest

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// Concurrent callers are group-committed into shared log entries; each must
// still get its own, distinct result.
const (
	concurrentWriters = 16
	writesPerWriter   = 20
)

// concurrently runs fn(writer, i) for every writer and write, and fails the
// test with the errors it returned.
func concurrently(t *testing.T, fn func(w, i int) error) {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for w := range concurrentWriters {
		wg.Go(func() {
			for i := range writesPerWriter {
				if err := fn(w, i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("writer %d, write %d: %w", w, i, err))
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.FailNow()
	}
}

func testStreamConcurrentWrites(t *testing.T, tg Target) {
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 2).GetPath()
	const batch = 3
	var mu sync.Mutex
	got := map[flowmesh.Position]string{}
	concurrently(t, func(w, i int) error {
		ev := make([]flowmesh.StreamEvent, batch)
		for j := range ev {
			ev[j] = flowmesh.StreamEvent{Payload: fmt.Appendf(nil, "%d/%d/%d", w, i, j), Partition: (w + i) % 2}
		}
		pos, err := tg.Streams.WriteEvents(ctx, s, ev)
		if err != nil {
			return err
		}
		if len(pos) != batch {
			return fmt.Errorf("%d positions for %d events", len(pos), batch)
		}
		for j, p := range pos {
			// One atomic command: a batch to one partition is contiguous.
			if p.Partition != ev[j].Partition || p.Offset != pos[0].Offset+uint64(j) {
				return fmt.Errorf("batch positions %v, want consecutive offsets in partition %d", pos, ev[j].Partition)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		for j, p := range pos {
			if prev, dup := got[p]; dup {
				return fmt.Errorf("position %+v returned for %q and %q", p, prev, ev[j].Payload)
			}
			got[p] = string(ev[j].Payload)
		}
		return nil
	})
	total := uint64(0)
	for p := range 2 {
		info := partitionInfo(t, tg, s, p)
		total += info.Next
		msgs := read(t, tg, s, p, 0, int(info.Next))
		for _, m := range msgs {
			want := got[flowmesh.Position{Partition: p, Offset: m.Offset}]
			if string(m.Payload) != want {
				t.Errorf("partition %d offset %d holds %q, the writer was told %q", p, m.Offset, m.Payload, want)
			}
		}
	}
	if want := uint64(concurrentWriters * writesPerWriter * batch); total != want || len(got) != int(want) {
		t.Errorf("concurrent writes: partitions hold %d events, %d positions returned; want %d", total, len(got), want)
	}
}

func testQueueConcurrentEnqueue(t *testing.T, tg Target) {
	ctx := testCtx(t)
	q := createQueue(t, tg, "q").GetPath()
	var mu sync.Mutex
	seqs := map[uint64]string{}
	ids := map[string]bool{}
	concurrently(t, func(w, i int) error {
		payload := fmt.Sprintf("%d/%d", w, i)
		id, seq, err := tg.Queues.Enqueue(ctx, q, []byte(payload), flowmesh.QueueEnqueueOptions{})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := seqs[seq]; dup {
			return fmt.Errorf("seq %d returned for %q and %q", seq, prev, payload)
		}
		if ids[id] {
			return fmt.Errorf("job ID %q returned twice", id)
		}
		seqs[seq], ids[id] = payload, true
		return nil
	})
	n := concurrentWriters * writesPerWriter
	wantStats(t, tg, q, "after concurrent enqueues", n, 0, 0, 0)
	// Jobs come out in seq order, each the payload its enqueuer was told.
	order := slices.Sorted(maps.Keys(seqs))
	for i, seq := range order {
		job := reserve(t, tg, q, 0)
		if job == nil {
			t.Fatalf("reserve %d of %d: no job", i, n)
		}
		if job.Seq != seq || string(job.Payload) != seqs[seq] {
			t.Fatalf("reserve %d: seq %d %q, want seq %d %q (FIFO by sequence)", i, job.Seq, job.Payload, seq, seqs[seq])
		}
	}
}

func testKVConcurrentPuts(t *testing.T, tg Target) {
	ctx := testCtx(t)
	kv := createKV(t, tg, "kv").GetPath()
	var mu sync.Mutex
	revs := map[uint64]string{}
	last := map[int]uint64{}
	concurrently(t, func(w, i int) error {
		key := fmt.Sprintf("w%02d", w)
		rev, err := tg.KV.Put(ctx, kv, key, fmt.Appendf(nil, "%d", i), flowmesh.KVPutOptions{})
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := revs[rev]; dup {
			return fmt.Errorf("revision %d returned for %s and %s", rev, prev, key)
		}
		if rev <= last[w] {
			return fmt.Errorf("revision %d after this writer's %d", rev, last[w])
		}
		revs[rev], last[w] = key, rev
		return nil
	})
	for w := range concurrentWriters {
		key := fmt.Sprintf("w%02d", w)
		e := get(t, tg, kv, key)
		if want := fmt.Sprint(writesPerWriter - 1); string(e.Value) != want || e.Revision != last[w] {
			t.Errorf("Get(%s) = %q at %d, want %q at %d (the writer's last put)", key, e.Value, e.Revision, want, last[w])
		}
	}
}
