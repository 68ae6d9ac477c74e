package segment

import (
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentReadersAndAppender runs readers against an appender that
// rolls, deletes old segments and appends fixed-size batches; readers must
// only ever see whole batches with the right content.
func TestConcurrentReadersAndAppender(t *testing.T) {
	const batch = 10
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	cfg := testConfig()
	cfg.SegmentMaxSize = 4 << 10
	l := openLog(t, t.TempDir(), cfg)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(w)))
			for !stop.Load() {
				early, next := l.EarliestOffset(), l.NextOffset()
				from := early + rng.Uint64N(next-early+1)
				rs, err := l.Read(from, 0, rng.IntN(8192))
				if errors.Is(err, ErrOutOfRange) && from < l.EarliestOffset() {
					continue
				}
				if err != nil {
					errc <- err
					return
				}
				for i := range rs {
					want := rec(from + uint64(i))
					want.Offset = from + uint64(i)
					if !sameRecord(rs[i], want) {
						errc <- errors.New("reader saw wrong content")
						return
					}
				}
				// Unlimited reads end at a published position: a batch end.
				if rsAll, err := l.Read(from, 0, 0); err == nil && len(rsAll) > 0 {
					if end := rsAll[len(rsAll)-1].Offset + 1; end%batch != 0 {
						errc <- errors.New("reader saw a partial batch")
						return
					}
				}
			}
		}(w)
	}
	deadline := time.Now().Add(500 * time.Millisecond)
	for i := uint64(0); time.Now().Before(deadline); i += batch {
		rs := make([]Record, batch)
		for j := range rs {
			rs[j] = rec(i + uint64(j))
		}
		if _, err := l.AppendBatch(rs); err != nil {
			t.Fatal(err)
		}
		if i%500 == 0 {
			if _, err := l.DeleteBefore(i - min(i, 300)); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
