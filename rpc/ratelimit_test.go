package rpc

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

func TestRateLimiterRefillsAndStaysBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(10, 3, func() time.Time { return now })
	for i := range 3 {
		if err := l.allow("t"); err != nil {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	err := l.allow("t")
	var re *flowmesh.RateLimitError
	if !errors.As(err, &re) || re.RetryAfter != 100*time.Millisecond {
		t.Fatalf("over the burst: %v, want a retry after 100ms", err)
	}
	now = now.Add(100 * time.Millisecond)
	if err := l.allow("t"); err != nil {
		t.Fatalf("after the hinted wait: %v", err)
	}
	if err := l.allow("other"); err != nil {
		t.Fatalf("another tenant: %v", err)
	}
	// A flood of tenant names never holds more than MaxRateBuckets buckets.
	for i := range MaxRateBuckets + 500 {
		l.allow(fmt.Sprintf("t%d", i))
	}
	if n := len(l.buckets); n > MaxRateBuckets {
		t.Fatalf("%d buckets, limit %d", n, MaxRateBuckets)
	}
	if newRateLimiter(0, 5, nil) != nil {
		t.Fatal("rate 0 is not off")
	}
}
