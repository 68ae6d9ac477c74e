package metrics

import (
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
	r := New()
	sink := NewRaftSink()
	if err := r.Register(sink); err != nil {
		t.Fatal(err)
	}
	conf := gometrics.DefaultConfig(Namespace)
	conf.EnableHostname, conf.EnableHostnameLabel, conf.EnableRuntimeMetrics = false, false, false
	conf.EnableTypePrefix = true
	m, err := gometrics.New(conf, sink)
	if err != nil {
		t.Fatal(err)
	}
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
