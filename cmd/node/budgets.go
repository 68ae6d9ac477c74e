package main

import (
	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/metrics"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// budgetStats reads the budgets for /metrics: the cluster-wide memory
// quota (limit 0: unlimited), gRPC connections, Subscribe and Watch
// streams (cut off as slow: reason "slow"), open segment files, KV Watch
// history bytes, raft connections and inflight request bytes, gossip
// streams.
func budgetStats(node *storage.Storage, srv *rpc.Server) metrics.BudgetFunc {
	return func() metrics.BudgetStats {
		var out metrics.BudgetStats
		budget := func(name string, use, limit float64) {
			out.Budgets = append(out.Budgets, metrics.Budget{Name: name, Use: use, Limit: limit})
		}
		refused := func(b, reason string, n uint64) {
			out.Refusals = append(out.Refusals, metrics.Refusals{Budget: b, Reason: reason, Count: n})
		}
		// The cluster-wide memory quota, as this replica counts it: its
		// refusals are raft results, counted by the gRPC metrics' codes.
		mem, memLimit := node.Memory()
		budget("memory_bytes", float64(mem), float64(memLimit))
		open, max, ref := srv.ConnStats()
		budget("grpc_connections", float64(open), float64(max))
		refused("grpc_connections", "over_limit", ref)
		sub, w := srv.StreamStats()
		for _, b := range []struct {
			name string
			st   rpc.StreamCapStats
		}{{"subscribers", sub}, {"watchers", w}} {
			budget(b.name, float64(b.st.Open), float64(b.st.Max))
			refused(b.name, "over_limit", b.st.Refused)
			refused(b.name, "slow", b.st.CutOff)
		}
		// Segment files are a cache, not a refusal: over its budget the
		// least recently used idle file is closed (counted as evicted).
		fs := node.SegmentFiles()
		budget("segment_files", float64(fs.Open), float64(fs.MaxOpen))
		refused("segment_files", "evicted", fs.Evictions)
		// KV Watch history: each store holds at most MaxKVHistoryBytes,
		// less once --kv-history-max-age trims it.
		hb, stores := node.KVHistoryStats()
		budget("kv_history_bytes", float64(hb), float64(stores)*flowmesh.MaxKVHistoryBytes)
		r, g, ok := node.TransportStats()
		if !ok {
			return out
		}
		budget("raft_connections", float64(r.Open), float64(r.MaxConnections))
		budget("raft_inflight_bytes", float64(r.InflightBytes), float64(r.MaxInflightBytes))
		refused("raft_connections", "over_limit", r.Refused)
		refused("raft_connections", "idle", r.ClosedIdle)
		refused("raft_connections", "stalled", r.ClosedStalled)
		refused("raft_connections", "too_large", r.RefusedTooLarge)
		refused("raft_connections", "malformed", r.RefusedMalformed)
		if g.MaxStreams > 0 {
			budget("gossip_streams", float64(g.OpenStreams), float64(g.MaxStreams))
			refused("gossip_streams", "over_limit", g.RefusedStreams)
			refused("gossip_streams", "too_large", g.RefusedOversize)
			refused("gossip", "compressed", g.RefusedCompressed)
		}
		return out
	}
}
