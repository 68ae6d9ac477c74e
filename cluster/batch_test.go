package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPartialEntryWaitsForEntryInFlight: while one entry is being written,
// commands that arrive gather into a single next entry, proposed when the
// first completes, and every caller gets its own result.
func TestPartialEntryWaitsForEntryInFlight(t *testing.T) {
	var block atomic.Bool
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	var held atomic.Int64 // commands in the held-back entry

	cfg := testConfig(t, t.TempDir())
	cfg.stallHook = func() {
		if block.CompareAndSwap(true, false) {
			blocked <- struct{}{}
			<-release
		}
	}
	cfg.batchHook = func(n int) { held.Store(int64(n)) }
	fsm := newCounterFSM(t.TempDir(), false)
	c := startNode(t, cfg, fsm)
	apply(t, c, "warm up")
	_, before, _ := fsm.state()

	// The first command's entry stalls in the leader's log write.
	block.Store(true)
	var wg sync.WaitGroup
	const n = 20
	results := make([]any, n+1)
	errs := make([]error, n+1)
	call := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		results[i], errs[i] = c.Apply(ctx, []byte(fmt.Sprint("c", i)))
	}
	wg.Go(func() { call(0) })
	<-blocked
	for i := 1; i <= n; i++ {
		wg.Go(func() { call(i) })
	}
	// Wait until the batcher holds all n behind the entry in flight. No
	// second entry may be proposed while the first is stalled.
	for held.Load() < n {
		if k := len(c.slots); k > 1 {
			close(release)
			t.Fatalf("%d entries in flight: a partly filled entry was proposed while one was in flight", k)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()

	seen := map[int]bool{}
	for i := range n + 1 {
		if errs[i] != nil {
			t.Fatalf("Apply %d: %v", i, errs[i])
		}
		v, ok := results[i].(int)
		if !ok || seen[v] {
			t.Fatalf("Apply %d = %v: want a unique count", i, results[i])
		}
		seen[v] = true
	}
	st, after, _ := fsm.state()
	if got := after - before; got != 2 {
		t.Errorf("1 command in flight then %d queued behind it took %d entries, want 2", n, got)
	}
	if st.Count != n+2 {
		t.Errorf("count = %d, want %d", st.Count, n+2)
	}
	if r := results[0].(int); r != st.Count-n {
		t.Errorf("the first command's result = %d, want %d (it was in the first entry)", r, st.Count-n)
	}
}

// TestFullEntriesPipeline: entries that are full do not wait for the entry
// in flight; a backlog larger than BatchMaxCommands leaves in full entries.
func TestFullEntriesPipeline(t *testing.T) {
	var block atomic.Bool
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	var held atomic.Int64

	cfg := testConfig(t, t.TempDir())
	cfg.BatchMaxCommands = 4
	cfg.stallHook = func() {
		if block.CompareAndSwap(true, false) {
			blocked <- struct{}{}
			<-release
		}
	}
	cfg.batchHook = func(n int) { held.Store(int64(n)) }
	fsm := newCounterFSM(t.TempDir(), false)
	c := startNode(t, cfg, fsm)
	apply(t, c, "warm up")
	_, before, _ := fsm.state()

	block.Store(true)
	var wg sync.WaitGroup
	errs := make([]error, 14)
	call := func(i int) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, errs[i] = c.Apply(ctx, []byte(fmt.Sprint("c", i)))
	}
	wg.Go(func() { call(0) })
	<-blocked
	for i := 1; i < 14; i++ {
		wg.Go(func() { call(i) })
	}
	// 13 queued behind the stalled entry: three full entries of 4 are
	// proposed without waiting and one command is held back.
	for held.Load() != 1 || len(c.slots) < 4 {
		if k := len(c.slots); k > 4 {
			close(release)
			t.Fatalf("%d entries in flight, want the stalled one and 3 full ones", k)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
	}
	if _, after, _ := fsm.state(); after-before != 5 {
		t.Errorf("1 + 13 commands with 4 per entry took %d entries, want 5", after-before)
	}
}
