package checker

import (
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// checkAppendOrder's sweep reports the same counts as the definition checked
// pair by pair, on random histories (seed in the failure message).
func TestAppendOrderSweepMatchesPairwise(t *testing.T) {
	for seed := int64(1); seed <= 200; seed++ {
		rng := rand.New(rand.NewSource(seed))
		appends := map[string][]history.Op{}
		var ops []history.Op
		for i := 0; i < 40; i++ {
			inv := time.Duration(rng.Intn(1000))
			op := history.Op{Process: rng.Intn(4), Type: history.OK, F: "append", Value: fmt.Sprint("v", i),
				Producer: fmt.Sprint("p", rng.Intn(3)), Partition: 0, Offset: uint64(rng.Intn(60)),
				InvokeTime: inv, CompleteTime: inv + time.Duration(rng.Intn(200))}
			if rng.Intn(6) == 0 {
				op.Type = history.Info
			}
			appends[op.Value] = append(appends[op.Value], op)
			ops = append(ops, op)
		}
		r := newResult()
		checkAppendOrder(&r, appends, map[string]pos{})
		wantSame, wantOther := 0, 0
		for _, b := range ops {
			if b.Type != history.OK {
				continue // without a known position a non-ok append is not placed
			}
			same, other := false, false
			for _, a := range ops {
				if !a.Precedes(b) || a.Offset <= b.Offset {
					continue
				}
				if a.Producer == b.Producer {
					same = true
				} else {
					other = true
				}
			}
			if same {
				wantSame++
			}
			if other {
				wantOther++
			}
		}
		if got := r.Anomalies[StreamProducerNonMonotonic]; got != wantSame {
			t.Fatalf("seed %d: %s = %d, pairwise %d", seed, StreamProducerNonMonotonic, got, wantSame)
		}
		if got := r.Anomalies[StreamRealtimeOrder]; got != wantOther {
			t.Fatalf("seed %d: %s = %d, pairwise %d", seed, StreamRealtimeOrder, got, wantOther)
		}
	}
}
