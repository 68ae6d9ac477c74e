package storage

import (
	"sync/atomic"
	"time"
)

// OffsetClock runs with real time plus an offset that only grows. Set
// Config.Clock to its Now to move a node's stamping clock forward in tests
// (delays, visibility timeouts, TTLs, retention) without sleeping.
type OffsetClock struct{ off atomic.Int64 }

// Now returns the wall clock plus the offset.
func (c *OffsetClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// Advance moves the clock forward by d.
func (c *OffsetClock) Advance(d time.Duration) {
	if d > 0 {
		c.off.Add(int64(d))
	}
}
