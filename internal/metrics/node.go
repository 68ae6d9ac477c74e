package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowmesh/flowmesh"
)

// NodeStats is what a NodeCollector reads from the node at scrape time.
type NodeStats struct {
	Role              string // "leader", "follower", ...
	HasLeader         bool
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	LastLogIndex      uint64
	LastSnapshotIndex uint64
	// SegmentBytes is the size of the resources' segment files on disk.
	SegmentBytes int64
	// Streams and Queues are every stream's size and queue's depth
	// (bounded at scrape: see MaxResourceSeries).
	Streams []StreamStats
	Queues  []QueueStats
	// Tenants is every tenant's quota use (bounded at scrape: see
	// MaxTenantSeries).
	Tenants []TenantUsage
	// Disk is the disk alarm of this node (first) and of the members
	// gossip reports.
	Disk []DiskStats
	// Groups is the lag of consumer groups' committed offsets (at most
	// MaxGroupSeries of them, the first by path, group and partition).
	Groups []GroupLag
	// Members is every member's applied index as gossip reports it.
	Members []MemberIndex
}

// MaxGroupSeries bounds the consumer-group partitions that get a lag
// series.
const MaxGroupSeries = 1000

// GroupLag is how far a consumer group's committed offset in one partition
// is behind the partition's next offset.
type GroupLag struct {
	Path, Group string
	Partition   int
	Lag         uint64
}

// MemberIndex is a member's applied index as it last gossiped it.
type MemberIndex struct {
	Node    string
	Applied uint64
}

// DiskStats is one node's free space on its data dir's filesystem against
// its reserve. Free and Reserve are exported only when Reserve is known
// (> 0): other nodes gossip them only under an alarm.
type DiskStats struct {
	Node    string
	Free    int64
	Reserve int64
	Alarm   bool
}

// StreamStats is one stream's retained size.
type StreamStats struct {
	Path  string
	Bytes int64 // summed over partitions
}

// QueueStats is one queue's depth, and its counters of redelivered jobs
// (reserved again after a visibility timeout or a nack) and of jobs that
// went dead, as this node applied them since it started (fsm.QueueCounters).
type QueueStats struct {
	Path              string
	Stats             flowmesh.QueueStats
	Redelivered, Dead uint64
}

// StatsFunc reads a NodeStats. It is called on every scrape with a ctx
// bounded by the collector's timeout.
type StatsFunc func(ctx context.Context) (NodeStats, error)

// NodeCollector turns a StatsFunc into gauges.
type NodeCollector struct {
	stats   StatsFunc
	timeout time.Duration

	up, leader, isLeader, term, commit, applied, lastLog, lastSnap *prometheus.Desc
	segBytes                                                       *prometheus.Desc
	streamBytes, queueJobs, queueOldest                            *prometheus.Desc
	queueRedelivered, queueDead                                    *prometheus.Desc
	tenantUsage, tenantLimit                                       *prometheus.Desc
	diskFree, diskReserve, diskAlarm                               *prometheus.Desc
	groupLag, memberApplied, memberLag                             *prometheus.Desc
}

var _ prometheus.Collector = (*NodeCollector)(nil)

// NewNodeCollector returns a collector over stats; a scrape waits at most
// timeout for it.
func NewNodeCollector(stats StatsFunc, timeout time.Duration) *NodeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &NodeCollector{
		stats:            stats,
		timeout:          timeout,
		up:               d("node_stats_up", "1 when the node's statistics could be read."),
		leader:           d("raft_has_leader", "1 when the node knows a leader."),
		isLeader:         d("is_leader", "1 on the raft leader, 0 elsewhere."),
		term:             d("raft_term", "Current raft term.", "role"),
		commit:           d("raft_commit_index", "Raft commit index."),
		applied:          d("raft_applied_index", "Index applied by the FSM."),
		lastLog:          d("raft_last_log_index", "Last index in the raft log."),
		lastSnap:         d("raft_last_snapshot_index", "Index of the latest raft snapshot."),
		segBytes:         d("segment_bytes", "Bytes of segment files of all resources on disk."),
		streamBytes:      d("stream_bytes", "Retained bytes of a stream, summed over partitions.", "path"),
		queueJobs:        d("queue_jobs", "Jobs in a queue by state (ready, delayed, in_flight, dead).", "path", "state"),
		queueOldest:      d("queue_oldest_ready_age_seconds", "Age of the oldest ready job.", "path"),
		queueRedelivered: d("queue_redelivered_total", "Reservations of a job reserved before (after its visibility timeout or a nack), as this node applied them since it started.", "path"),
		queueDead:        d("queue_dead_total", "Jobs of a queue that went dead (moved to its dead-letter queue or marked dead), as this node applied them since it started.", "path"),
		tenantUsage:      d("tenant_usage", "A tenant's use of a quota (stored_bytes, resources, partitions, kv_keys, queue_jobs, and memory_bytes: its share of the cluster-wide memory quota); tenants beyond the 100 largest are summed as _other.", "tenant", "quota"),
		tenantLimit:      d("tenant_quota_limit", "A tenant's effective quota limit (0 = unlimited).", "tenant", "quota"),
		diskFree:         d("disk_free_bytes", "Free bytes of the filesystem holding a node's data dir (other nodes': only under their alarm).", "node"),
		diskReserve:      d("disk_reserve_bytes", "A node's disk reserve: below it the node raises its disk alarm.", "node"),
		groupLag:         d("consumer_group_lag", "Events of a partition after a consumer group's committed offset (or after its earliest retained one).", "path", "group", "partition"),
		memberApplied:    d("member_applied_index", "A member's applied index as it last gossiped it (about a second old).", "node"),
		memberLag:        d("member_lag", "This node's commit index minus a member's gossiped applied index (on the leader: how far each follower is behind).", "node"),
		diskAlarm:        d("disk_alarm", "1 while a node's free disk space is below its reserve: the cluster refuses writes that grow the data.", "node"),
	}
}

// Describe implements prometheus.Collector.
func (c *NodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.leader, c.isLeader, c.term, c.commit, c.applied, c.lastLog, c.lastSnap, c.segBytes, c.streamBytes, c.queueJobs, c.queueOldest, c.queueRedelivered, c.queueDead, c.tenantUsage, c.tenantLimit, c.diskFree, c.diskReserve, c.diskAlarm, c.groupLag, c.memberApplied, c.memberLag} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *NodeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	st, err := c.stats(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(c.up, 1)
	g(c.leader, b2f(st.HasLeader))
	g(c.isLeader, b2f(st.Role == "leader"))
	g(c.term, float64(st.Term), st.Role)
	g(c.commit, float64(st.CommitIndex))
	g(c.applied, float64(st.AppliedIndex))
	g(c.lastLog, float64(st.LastLogIndex))
	g(c.lastSnap, float64(st.LastSnapshotIndex))
	g(c.segBytes, float64(st.SegmentBytes))
	for _, s := range boundStreams(st.Streams) {
		g(c.streamBytes, float64(s.Bytes), s.Path)
	}
	for _, q := range boundQueues(st.Queues) {
		g(c.queueJobs, float64(q.Stats.Ready), q.Path, "ready")
		g(c.queueJobs, float64(q.Stats.Delayed), q.Path, "delayed")
		g(c.queueJobs, float64(q.Stats.InFlight), q.Path, "in_flight")
		g(c.queueJobs, float64(q.Stats.Dead), q.Path, "dead")
		g(c.queueOldest, q.Stats.OldestReadyAge.Seconds(), q.Path)
		ch <- prometheus.MustNewConstMetric(c.queueRedelivered, prometheus.CounterValue, float64(q.Redelivered), q.Path)
		ch <- prometheus.MustNewConstMetric(c.queueDead, prometheus.CounterValue, float64(q.Dead), q.Path)
	}
	for _, d := range st.Disk {
		g(c.diskAlarm, b2f(d.Alarm), d.Node)
		if d.Reserve > 0 {
			g(c.diskFree, float64(d.Free), d.Node)
			g(c.diskReserve, float64(d.Reserve), d.Node)
		}
	}
	for i, gl := range st.Groups {
		if i == MaxGroupSeries {
			break
		}
		g(c.groupLag, float64(gl.Lag), gl.Path, gl.Group, strconv.Itoa(gl.Partition))
	}
	for _, m := range st.Members {
		g(c.memberApplied, float64(m.Applied), m.Node)
		lag := uint64(0)
		if st.CommitIndex > m.Applied {
			lag = st.CommitIndex - m.Applied
		}
		g(c.memberLag, float64(lag), m.Node)
	}
	for _, t := range boundTenants(st.Tenants) {
		for _, s := range quotaSeries(t.Usage) {
			g(c.tenantUsage, float64(s.v), t.Tenant, s.name)
		}
		// Its share of the cluster-wide memory quota, whose limit is the
		// budget "memory_bytes", not a tenant's.
		g(c.tenantUsage, float64(t.Usage.MemoryBytes), t.Tenant, flowmesh.QuotaMemoryBytes)
		if t.Tenant == OtherTenant {
			continue
		}
		for _, s := range quotaSeries(t.Limits) {
			g(c.tenantLimit, float64(s.v), t.Tenant, s.name)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
