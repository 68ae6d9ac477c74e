package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// BenchmarkApply64 measures group commit: 64 concurrent appliers of
// 256-byte commands on a single node with raft-boltdb fsyncing every write.
func BenchmarkApply64(b *testing.B) {
	cfg := testConfig(b, b.TempDir())
	c := startNode(b, cfg, newCounterFSM(b.TempDir(), false))
	cmd := make([]byte, 256)
	ctx := context.Background()
	const appliers = 64

	_, entries0, _ := c.fsm.FSM.(*counterFSM).state()
	b.SetBytes(int64(len(cmd)))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range appliers {
		wg.Go(func() {
			for {
				mu.Lock()
				if next >= b.N {
					mu.Unlock()
					return
				}
				next++
				mu.Unlock()
				if _, err := c.Apply(ctx, cmd); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	_, entries, _ := c.fsm.FSM.(*counterFSM).state()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
	if n := entries - entries0; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "cmds/entry")
	}
}
