package rpc

import (
	"fmt"
	"sync"

	"github.com/flowmesh/flowmesh"
)

// Caps on the server streams open at one node (Config): Subscribe and
// Watch streams each, in all and per tenant. A stream over a cap is
// refused with ResourceExhausted (*flowmesh.LimitError naming the cap and
// the use). The counts are the node's own, not replicated.
const (
	DefaultMaxSubscribers       = 10000
	DefaultMaxTenantSubscribers = 1000
	DefaultMaxWatchers          = 10000
	DefaultMaxTenantWatchers    = 1000
)

// streamCap counts one kind of server stream open at this node, in all and
// per tenant; a tenant's entry goes when its last stream ends, so the map
// is bounded by the open streams.
type streamCap struct {
	kind           string // "Subscribe", "Watch"
	max, perTenant int

	mu      sync.Mutex
	open    int
	tenants map[string]int
	refused uint64
	slow    uint64
}

func newStreamCap(kind string, max, perTenant int) *streamCap {
	return &streamCap{kind: kind, max: max, perTenant: perTenant, tenants: map[string]int{}}
}

// acquire takes a slot for a stream of tenant, or says which cap is full.
func (c *streamCap) acquire(tenant string) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= c.max {
		c.refused++
		return nil, &flowmesh.LimitError{What: c.kind + " streams open at this node", Limit: int64(c.max), Got: int64(c.open + 1)}
	}
	if n := c.tenants[tenant]; n >= c.perTenant {
		c.refused++
		return nil, &flowmesh.LimitError{What: fmt.Sprintf("%s streams of tenant %s open at this node", c.kind, flowmesh.Quote(tenant)),
			Limit: int64(c.perTenant), Got: int64(n + 1)}
	}
	c.open++
	c.tenants[tenant]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.open--
			if c.tenants[tenant]--; c.tenants[tenant] <= 0 {
				delete(c.tenants, tenant)
			}
		})
	}, nil
}

func (c *streamCap) cutOff() {
	c.mu.Lock()
	c.slow++
	c.mu.Unlock()
}

// StreamCapStats is one kind of server stream's use of its caps.
type StreamCapStats struct {
	Open, Max, MaxPerTenant int
	Refused                 uint64 // over a cap, since start
	CutOff                  uint64 // ended as too slow, since start
}

func (c *streamCap) stats() StreamCapStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return StreamCapStats{Open: c.open, Max: c.max, MaxPerTenant: c.perTenant, Refused: c.refused, CutOff: c.slow}
}

// StreamStats reports the Subscribe and Watch streams open at this node
// against their caps.
func (s *Server) StreamStats() (subscribers, watchers StreamCapStats) {
	return s.subscribers.stats(), s.watchers.stats()
}
