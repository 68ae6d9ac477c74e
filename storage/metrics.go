package storage

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/metrics"
)

// metricsTimeout bounds one scrape's read of the node's state.
const metricsTimeout = 5 * time.Second

// MetricsCollector returns the node's flowmesh_* series (raft state and
// indexes, is_leader, segment bytes, every stream's size and queue's depth
// and counters, consumer-group lag, tenant quota use and limits, disk
// alarms, members' applied index and lag), read from this node's own state
// at each scrape (stale reads: no call to the leader), bounded in
// cardinality as internal/metrics describes. flowmesh-node exports the
// same series; an embedding program registers them on its own registry
// (RegisterMetrics). Each call returns a new collector.
func (s *Storage) MetricsCollector() prometheus.Collector {
	return metrics.NewNodeCollector(s.metricsStats, metricsTimeout)
}

// RegisterMetrics registers MetricsCollector on r (an embedding program's
// registry; one node per registry, since the series carry no node label).
func (s *Storage) RegisterMetrics(r prometheus.Registerer) error {
	return r.Register(s.MetricsCollector())
}

// RegisterRaftMetrics exports what raft and memberlist report through
// hashicorp/go-metrics (commit and apply timings, the write stages'
// flowmesh_write_*_seconds, gossip timings) on r under Prometheus'
// conventions. go-metrics is process-global: call it once per process,
// before starting nodes; with several nodes in one process their timings
// are summed.
func RegisterRaftMetrics(r prometheus.Registerer) error {
	return metrics.InstallRaftSinkOn(r)
}

// metricsStats reads what the collector exports: queue depths and stream
// sizes of every resource of every tenant the FSM holds, on followers as
// on the leader, from the first scrape after a restart.
func (s *Storage) metricsStats(ctx context.Context) (metrics.NodeStats, error) {
	st, err := s.Status()
	if err != nil {
		return metrics.NodeStats{}, err
	}
	out := metrics.NodeStats{
		Role: st.State, HasLeader: st.LeaderID != "", Term: st.Term,
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		LastLogIndex: st.LastLogIndex, LastSnapshotIndex: st.LastSnapshotIndex,
		SegmentBytes: s.SegmentBytes(),
	}
	local := flowmesh.WithConsistency(flowmesh.Stale)
	for _, r := range s.LocalResources() {
		if ctx.Err() != nil {
			break
		}
		switch r.Kind {
		case flowmesh.KindStream:
			var n int64
			for p := 0; r.Stream != nil && p < r.Stream.Partitions; p++ {
				if pi, err := s.PartitionInfo(ctx, r.GetPath(), p, local); err == nil {
					n += pi.Bytes
				}
			}
			out.Streams = append(out.Streams, metrics.StreamStats{Path: r.GetPath(), Bytes: n})
		case flowmesh.KindQueue:
			if qs, err := s.Stats(ctx, r.GetPath(), local); err == nil {
				redelivered, dead, _ := s.QueueCounters(r.GetPath())
				out.Queues = append(out.Queues, metrics.QueueStats{Path: r.GetPath(), Stats: qs, Redelivered: redelivered, Dead: dead})
			}
		}
	}
	for _, d := range s.Disk() {
		out.Disk = append(out.Disk, metrics.DiskStats{Node: d.Node, Free: d.Free, Reserve: d.Reserve, Alarm: d.Alarm})
	}
	out.Groups = s.groupLags(ctx, metrics.MaxGroupSeries)
	for _, m := range s.Members() {
		if m.AppliedIndex > 0 {
			out.Members = append(out.Members, metrics.MemberIndex{Node: m.ID, Applied: m.AppliedIndex})
		}
	}
	tenants, usage := s.QuotaUsage()
	for i, t := range tenants {
		out.Tenants = append(out.Tenants, metrics.TenantUsage{Tenant: t, Usage: usage[i], Limits: s.QuotaLimits(t)})
	}
	return out, nil
}

// groupLags reads up to limit consumer groups' committed offsets and each
// one's lag behind its partition's next offset, from this node's state.
func (s *Storage) groupLags(ctx context.Context, limit int) []metrics.GroupLag {
	offsets, _ := s.LocalGroupOffsets(limit)
	local := flowmesh.WithConsistency(flowmesh.Stale)
	type part struct {
		path string
		p    int
	}
	infos := map[part]flowmesh.PartitionInfo{}
	var out []metrics.GroupLag
	for _, o := range offsets {
		if ctx.Err() != nil {
			break
		}
		k := part{o.Path, o.Partition}
		pi, ok := infos[k]
		if !ok {
			var err error
			if pi, err = s.PartitionInfo(ctx, o.Path, o.Partition, local); err != nil {
				continue
			}
			infos[k] = pi
		}
		out = append(out, metrics.GroupLag{Path: o.Path, Group: o.Group, Partition: o.Partition, Lag: pi.Lag(o.Offset)})
	}
	return out
}
