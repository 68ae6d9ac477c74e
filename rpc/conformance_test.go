package rpc_test

import (
	"testing"

	"github.com/flowmesh/flowmesh/flowmeshtest"
)

// TestConformance runs the shared conformance suite against the client
// talking to a real node over loopback gRPC: the remote API must behave as
// the embedded one.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real nodes")
	}
	flowmeshtest.Run(t, func(t *testing.T) flowmeshtest.Target {
		n := startNode(t)
		c := n.newClient(t)
		return flowmeshtest.Target{Resources: c, Streams: c, Queues: c, KV: c, Quotas: c, Advance: n.advance}
	})
}
