package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/metrics"
	"github.com/flowmesh/flowmesh/storage"
)

// adminHandler serves /healthz, /readyz, /metrics, the console when it is
// not nil (console.go) and, when pprof is not nil, /debug/pprof/ behind it
// (pprof.go).
func adminHandler(node *storage.Storage, reg *metrics.Registry, console http.Handler, pprof func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready decides (storage/ready.go); this only renders it.
		if rd := node.Ready(r.Context()); !rd.Ready {
			http.Error(w, "not ready: "+rd.Reason, http.StatusServiceUnavailable)
			return
		}
		// A disk alarm leaves the node ready: it serves reads, watches
		// and the writes that free space, and neither taking it out of a
		// load balancer nor restarting it frees a byte (doc.go, "Disk
		// full"). The alarm is in a header and the body instead.
		if err := node.DiskAlarm(); err != nil {
			w.Header().Set(alarmHeader, "NOSPACE")
			fmt.Fprintf(w, "ready\nalarm NOSPACE: %v\n", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", reg.Handler())
	if console != nil {
		mux.Handle("GET /console", console)
	}
	if pprof != nil {
		mux.Handle("/debug/pprof/", pprof(pprofHandler()))
	}
	return mux
}

// alarmHeader is set on /readyz while an alarm is raised; its value names
// the alarm (NOSPACE: a node of the cluster is short of disk).
const alarmHeader = "Flowmesh-Alarm"

// nodeStats reads what the metrics collector exports, from this node's own
// state: queue depths and stream sizes of every resource of every tenant
// the FSM holds, on followers as on the leader, from the first scrape after
// a restart (stale reads: no call to the leader; the metrics package bounds
// the series).
func nodeStats(node *storage.Storage) metrics.StatsFunc {
	return func(ctx context.Context) (metrics.NodeStats, error) {
		st, err := node.Status()
		if err != nil {
			return metrics.NodeStats{}, err
		}
		out := metrics.NodeStats{
			Role: st.State, HasLeader: st.LeaderID != "", Term: st.Term,
			CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
			LastLogIndex: st.LastLogIndex, LastSnapshotIndex: st.LastSnapshotIndex,
			SegmentBytes: node.SegmentBytes(),
		}
		local := flowmesh.WithConsistency(flowmesh.Stale)
		for _, r := range node.LocalResources() {
			if ctx.Err() != nil {
				break
			}
			switch r.Kind {
			case flowmesh.KindStream:
				var n int64
				for p := 0; r.Stream != nil && p < r.Stream.Partitions; p++ {
					if pi, err := node.StreamManager().PartitionInfo(ctx, r.GetPath(), p, local); err == nil {
						n += pi.Bytes
					}
				}
				out.Streams = append(out.Streams, metrics.StreamStats{Path: r.GetPath(), Bytes: n})
			case flowmesh.KindQueue:
				if qs, err := node.QueueManager().Stats(ctx, r.GetPath(), local); err == nil {
					redelivered, dead, _ := node.QueueCounters(r.GetPath())
					out.Queues = append(out.Queues, metrics.QueueStats{Path: r.GetPath(), Stats: qs, Redelivered: redelivered, Dead: dead})
				}
			}
		}
		for _, d := range node.Disk() {
			out.Disk = append(out.Disk, metrics.DiskStats{Node: d.Node, Free: d.Free, Reserve: d.Reserve, Alarm: d.Alarm})
		}
		out.Groups = groupLags(ctx, node, metrics.MaxGroupSeries)
		for _, m := range node.Members() {
			if m.AppliedIndex > 0 {
				out.Members = append(out.Members, metrics.MemberIndex{Node: m.ID, Applied: m.AppliedIndex})
			}
		}
		tenants, usage := node.QuotaUsage()
		for i, t := range tenants {
			out.Tenants = append(out.Tenants, metrics.TenantUsage{Tenant: t, Usage: usage[i], Limits: node.QuotaLimits(t)})
		}
		return out, nil
	}
}

// groupLags reads up to limit consumer groups' committed offsets and each
// one's lag behind its partition's next offset, from this node's state.
func groupLags(ctx context.Context, node *storage.Storage, limit int) []metrics.GroupLag {
	offsets, _ := node.LocalGroupOffsets(limit)
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
			if pi, err = node.StreamManager().PartitionInfo(ctx, o.Path, o.Partition, local); err != nil {
				continue
			}
			infos[k] = pi
		}
		out = append(out, metrics.GroupLag{Path: o.Path, Group: o.Group, Partition: o.Partition, Lag: pi.Lag(o.Offset)})
	}
	return out
}
