package metrics

import "sort"

// MaxResourceSeries bounds the streams and the queues that get their own
// series (each kind apart): the MaxResourceSeries streams retaining the
// most bytes and queues holding the most jobs (ties by path) are labelled
// by path, the rest are summed under path OtherResource, so a scrape stays
// small however many resources clients create.
const MaxResourceSeries = 1000

// OtherResource labels the summed streams or queues beyond MaxResourceSeries.
const OtherResource = "_other"

func boundStreams(ss []StreamStats) []StreamStats {
	if len(ss) <= MaxResourceSeries {
		return ss
	}
	ss = append([]StreamStats(nil), ss...)
	sort.Slice(ss, func(i, j int) bool {
		if ss[i].Bytes != ss[j].Bytes {
			return ss[i].Bytes > ss[j].Bytes
		}
		return ss[i].Path < ss[j].Path
	})
	other := StreamStats{Path: OtherResource}
	for _, s := range ss[MaxResourceSeries:] {
		other.Bytes += s.Bytes
	}
	return append(ss[:MaxResourceSeries:MaxResourceSeries], other)
}

func queueJobs(q QueueStats) int {
	return q.Stats.Ready + q.Stats.Delayed + q.Stats.InFlight + q.Stats.Dead
}

// boundQueues keeps the largest queues; the others' depths and counters are
// summed (so _other's counters drop when a queue leaves it) and their oldest
// ready job's age is the oldest among them.
func boundQueues(qs []QueueStats) []QueueStats {
	if len(qs) <= MaxResourceSeries {
		return qs
	}
	qs = append([]QueueStats(nil), qs...)
	sort.Slice(qs, func(i, j int) bool {
		if a, b := queueJobs(qs[i]), queueJobs(qs[j]); a != b {
			return a > b
		}
		return qs[i].Path < qs[j].Path
	})
	other := QueueStats{Path: OtherResource}
	for _, q := range qs[MaxResourceSeries:] {
		o := &other.Stats
		o.Ready += q.Stats.Ready
		o.Delayed += q.Stats.Delayed
		o.InFlight += q.Stats.InFlight
		o.Dead += q.Stats.Dead
		o.OldestReadyAge = max(o.OldestReadyAge, q.Stats.OldestReadyAge)
		other.Redelivered += q.Redelivered
		other.Dead += q.Dead
	}
	return append(qs[:MaxResourceSeries:MaxResourceSeries], other)
}
