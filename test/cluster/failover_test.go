package cluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// TestFailoverBench measures failover under load: a three-node cluster, one
// SDK client writing KV puts back to back, the leader SIGKILLed
// FLOWMESH_FAILOVER_KILLS times (default 20) and restarted after each
// round. A round's figure is the time from the kill to the first write
// that began after the kill and succeeded. Run it with
// scripts/failover-bench.sh (FLOWMESH_FAILOVER_BENCH=1).
func TestFailoverBench(t *testing.T) {
	if os.Getenv("FLOWMESH_FAILOVER_BENCH") != "1" {
		t.Skip("set FLOWMESH_FAILOVER_BENCH=1 (scripts/failover-bench.sh)")
	}
	kills := 20
	if v, err := strconv.Atoi(os.Getenv("FLOWMESH_FAILOVER_KILLS")); err == nil && v > 0 {
		kills = v
	}
	c := StartCluster(t, 3)
	ctx := withTimeout(t, time.Duration(kills)*90*time.Second)
	cfg := retryingConfig()
	cfg.BackoffBase, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	cl := c.Client(cfg)
	const path = "bench/ns/kv"
	if _, err := cl.CreateKVStore(ctx, "bench", "ns", "kv"); err != nil {
		t.Fatal(err)
	}

	// The writer records when each successful write began and ended.
	type okWrite struct{ began, ended time.Time }
	var (
		mu   sync.Mutex
		oks  []okWrite
		stop = make(chan struct{})
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			began := time.Now()
			wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			_, err := cl.Put(wctx, path, fmt.Sprintf("k%d", i%1000), make([]byte, 256), flowmesh.KVPutOptions{})
			cancel()
			if err == nil {
				mu.Lock()
				oks = append(oks, okWrite{began, time.Now()})
				mu.Unlock()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	firstAfter := func(kill time.Time) (time.Duration, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range oks {
			if !w.began.Before(kill) {
				return w.ended.Sub(kill), true
			}
		}
		return 0, false
	}

	var figures []time.Duration
	for round := range kills {
		c.WaitReady(60 * time.Second)
		leader := c.Nodes[c.Leader(20*time.Second)]
		time.Sleep(500 * time.Millisecond) // steady writes before the kill
		kill := time.Now()
		leader.Kill()
		var d time.Duration
		eventually(t, 30*time.Second, "a write after the kill", func() error {
			var ok bool
			if d, ok = firstAfter(kill); !ok {
				return errNotYet
			}
			return nil
		})
		figures = append(figures, d)
		t.Logf("round %2d: killed %s, first write after %v", round+1, leader.ID, d.Round(time.Millisecond))
		leader.Start()
	}
	slices.Sort(figures)
	p50 := figures[len(figures)/2]
	if len(figures)%2 == 0 {
		p50 = (figures[len(figures)/2-1] + figures[len(figures)/2]) / 2
	}
	fmt.Printf("failover: %d leader kills, time from SIGKILL to the first successful write: p50 %v, max %v, min %v\n",
		len(figures), p50.Round(time.Millisecond), figures[len(figures)-1].Round(time.Millisecond), figures[0].Round(time.Millisecond))
}
