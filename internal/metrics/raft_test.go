package metrics

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	gometrics "github.com/hashicorp/go-metrics"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestRaftSink reports through a go-metrics instance configured as
// InstallRaftSink configures the global one: the scrape has snake_case
// names, timers in seconds as histograms, counters with _total, and
// promlint finds nothing.
func TestRaftSink(t *testing.T) {
	r, m := newSinkMetrics(t)
	m.MeasureSince([]string{"raft", "commitTime"}, time.Now().Add(-1500*time.Millisecond))
	m.AddSample([]string{"raft", "commitNumLogs"}, 3)
	m.IncrCounter([]string{"raft", "state", "leader"}, 1)
	m.IncrCounterWithLabels([]string{"memberlist", "msg", "alive"}, 2, []gometrics.Label{{Name: "nodeID", Value: "n1"}})
	m.SetGauge([]string{"raft", "peers"}, 3)

	out := scrape(t, r)
	for _, want := range []string{
		`flowmesh_raft_commit_time_seconds_bucket{le="1.6384"} 1`, // 1.5 s, in seconds
		`flowmesh_raft_commit_time_seconds_bucket{le="0.8192"} 0`,
		`flowmesh_raft_commit_num_logs_bucket{le="4"} 1`,
		`flowmesh_raft_state_leader_total 1`,
		`flowmesh_memberlist_msg_alive_total{node_id="n1"} 2`,
		`flowmesh_raft_peers 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	problems, err := promlint.New(strings.NewReader(out)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// newSinkMetrics returns a registry with a RaftSink and a go-metrics
// instance configured as InstallRaftSink configures the global one.
func newSinkMetrics(tb testing.TB) (*Registry, *gometrics.Metrics) {
	tb.Helper()
	r := New()
	sink := NewRaftSink()
	if err := r.Register(sink); err != nil {
		tb.Fatal(err)
	}
	m, err := gometrics.New(sinkConfig(), sink)
	if err != nil {
		tb.Fatal(err)
	}
	return r, m
}

// TestRaftSinkRepeats reports every kind of metric three times, so the
// second and third take the sink's memo, and past the memo's bound: the
// scrape counts every report, in the right unit and series.
func TestRaftSinkRepeats(t *testing.T) {
	r, m := newSinkMetrics(t)
	for i := range 3 {
		m.MeasureSince([]string{"write", "total"}, time.Now().Add(-1500*time.Millisecond))
		m.AddSample([]string{"raft", "commitNumLogs"}, 3)
		m.IncrCounter([]string{"raft", "apply"}, 2)
		m.IncrCounterWithLabels([]string{"memberlist", "msg", "alive"}, 1, []gometrics.Label{{Name: "nodeID", Value: "n1"}})
		m.IncrCounterWithLabels([]string{"memberlist", "msg", "alive"}, 1, []gometrics.Label{{Name: "nodeID", Value: "n2"}})
		m.SetGauge([]string{"raft", "peers"}, float32(i+1))
		m.MeasureSinceWithLabels([]string{"raft", "replication", "appendEntries", "rpc"}, time.Now().Add(-3*time.Millisecond),
			[]gometrics.Label{{Name: "peer_id", Value: "node2"}})
	}
	// More distinct series than the memo keeps: the ones past it are
	// still reported, on the slow path.
	for i := range maxSinkSeries + 10 {
		m.IncrCounterWithLabels([]string{"many"}, 1, []gometrics.Label{{Name: "n", Value: strconv.Itoa(i)}})
	}
	m.IncrCounterWithLabels([]string{"many"}, 1, []gometrics.Label{{Name: "n", Value: strconv.Itoa(maxSinkSeries + 5)}})

	out := scrape(t, r)
	for _, want := range []string{
		`flowmesh_write_total_seconds_bucket{le="0.8192"} 0`,
		`flowmesh_write_total_seconds_bucket{le="1.6384"} 3`,
		`flowmesh_write_total_seconds_count 3`,
		`flowmesh_raft_commit_num_logs_sum 9`,
		`flowmesh_raft_apply_total 6`,
		`flowmesh_memberlist_msg_alive_total{node_id="n1"} 3`,
		`flowmesh_memberlist_msg_alive_total{node_id="n2"} 3`,
		`flowmesh_raft_peers 3`,
		`flowmesh_raft_replication_append_entries_rpc_seconds_count{peer_id="node2"} 3`,
		`flowmesh_raft_replication_append_entries_rpc_seconds_bucket{peer_id="node2",le="0.0016"} 0`,
		`flowmesh_raft_replication_append_entries_rpc_seconds_bucket{peer_id="node2",le="0.0032"} 3`,
		`flowmesh_many_total{n="0"} 1`,
		fmt.Sprintf(`flowmesh_many_total{n="%d"} 2`, maxSinkSeries+5),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

// BenchmarkRaftSinkTimer is one report of a write stage (cluster.Apply
// makes three per command): go-metrics' front and the sink.
func BenchmarkRaftSinkTimer(b *testing.B) {
	_, m := newSinkMetrics(b)
	key := []string{"write", "total"}
	start := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.MeasureSince(key, start)
		}
	})
}
