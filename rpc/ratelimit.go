package rpc

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
)

// MaxRateBuckets bounds the per-tenant token buckets a node keeps. When a
// new tenant would pass it, buckets that refilled (idle tenants) are
// dropped first; if none did, all are dropped (a tenant then starts with a
// full bucket again), so a flood of tenant names cannot grow memory.
const MaxRateBuckets = 10000

// rateLimiter is per-tenant admission control at one node: a token bucket
// of Rate tokens per second holding at most Burst. It is not replicated:
// each node limits the calls it receives (a forwarded call counts at the
// follower and again at the leader).
type rateLimiter struct {
	rate  float64
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int, now func() time.Time) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	if burst < 1 {
		burst = max(1, int(math.Ceil(rate)))
	}
	if now == nil {
		now = time.Now
	}
	return &rateLimiter{rate: rate, burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token of tenant's bucket, or says how long until one is there.
func (l *rateLimiter) allow(tenant string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[tenant]
	if b == nil {
		if len(l.buckets) >= MaxRateBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[tenant] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return nil
	}
	// Whole milliseconds, rounded up: the hint travels as retry_after_ms.
	wait := time.Duration(math.Ceil((1-b.tokens)/l.rate*1000)) * time.Millisecond
	return &flowmesh.RateLimitError{Tenant: tenant, Rate: l.rate, Burst: int(l.burst), RetryAfter: wait}
}

func (l *rateLimiter) sweep(now time.Time) {
	for t, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, t)
		}
	}
	if len(l.buckets) >= MaxRateBuckets {
		clear(l.buckets)
	}
}

// admit applies the tenant rate limit to a unary call that names a tenant
// (by its path or tenant field); calls that name none are not limited.
func (s *Server) admit(_ context.Context, method string, req any) error {
	if s.rate == nil {
		return nil
	}
	a, ok := methods[method]
	if !ok || a.scope == nil {
		return nil
	}
	tenant, _, err := a.scope(req)
	if err != nil || tenant == "" || tenant == flowmesh.DefaultQuotaTenant {
		return nil // the handler reports a bad request
	}
	return s.rate.allow(tenant)
}
