package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/buildinfo"
)

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRegistryExportsNodeMetrics(t *testing.T) {
	r := New()
	stats := NodeStats{
		Role: "leader", HasLeader: true, Term: 3, CommitIndex: 10, AppliedIndex: 9, SegmentBytes: 4096,
		Streams: []StreamStats{{Path: "t/n/s", Bytes: 100}},
		Queues:  []QueueStats{{Path: "t/n/q", Stats: flowmesh.QueueStats{Ready: 5, InFlight: 2}, Redelivered: 3, Dead: 1}},
		Disk:    []DiskStats{{Node: "n1", Free: 1 << 20, Reserve: 16 << 20, Alarm: true}, {Node: "n2"}},
		Groups:  []GroupLag{{Path: "t/n/s", Group: "g", Partition: 2, Lag: 40}},
		Members: []MemberIndex{{Node: "n1", Applied: 10}, {Node: "n2", Applied: 4}},
	}
	if err := r.Register(NewNodeCollector(func(context.Context) (NodeStats, error) { return stats, nil }, time.Second)); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, r)
	if strings.Contains(out, `flowmesh_disk_free_bytes{node="n2"}`) {
		t.Error("free bytes exported for a node that did not report them")
	}
	for _, want := range []string{
		`flowmesh_raft_term{role="leader"} 3`,
		`flowmesh_is_leader 1`,
		`flowmesh_consumer_group_lag{group="g",partition="2",path="t/n/s"} 40`,
		`flowmesh_member_applied_index{node="n2"} 4`,
		`flowmesh_member_lag{node="n2"} 6`,
		`flowmesh_member_lag{node="n1"} 0`,
		`flowmesh_raft_commit_index 10`,
		`flowmesh_raft_applied_index 9`,
		`flowmesh_segment_bytes 4096`,
		`flowmesh_stream_bytes{path="t/n/s"} 100`,
		`flowmesh_queue_jobs{path="t/n/q",state="ready"} 5`,
		`flowmesh_queue_jobs{path="t/n/q",state="in_flight"} 2`,
		"# TYPE flowmesh_queue_redelivered_total counter\nflowmesh_queue_redelivered_total{path=\"t/n/q\"} 3",
		"# TYPE flowmesh_queue_dead_total counter\nflowmesh_queue_dead_total{path=\"t/n/q\"} 1",
		`flowmesh_node_stats_up 1`,
		`flowmesh_disk_alarm{node="n1"} 1`,
		`flowmesh_disk_free_bytes{node="n1"} 1.048576e+06`,
		`flowmesh_disk_reserve_bytes{node="n1"} 1.6777216e+07`,
		`flowmesh_disk_alarm{node="n2"} 0`,
		`go_goroutines`,
		fmt.Sprintf(`flowmesh_build_info{goversion=%q,revision=%q,version=%q} 1`, buildinfo.Get().GoVersion, buildinfo.Get().Revision, buildinfo.Version()),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}

func TestNodeCollectorReportsFailure(t *testing.T) {
	r := New()
	if err := r.Register(NewNodeCollector(func(context.Context) (NodeStats, error) { return NodeStats{}, errors.New("stopped") }, time.Second)); err != nil {
		t.Fatal(err)
	}
	if out := scrape(t, r); !strings.Contains(out, "flowmesh_node_stats_up 0") {
		t.Errorf("scrape lacks flowmesh_node_stats_up 0:\n%s", out)
	}
}

func TestBudgetCollector(t *testing.T) {
	r := New()
	stats := BudgetStats{
		Budgets:  []Budget{{Name: "grpc_connections", Use: 3, Limit: 4096}, {Name: "raft_inflight_bytes", Use: 100, Limit: 1 << 20}},
		Refusals: []Refusals{{Budget: "raft_connections", Reason: "over_limit", Count: 7}},
	}
	if err := r.Register(NewBudgetCollector(func() BudgetStats { return stats })); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, r)
	for _, want := range []string{
		`flowmesh_budget_use{budget="grpc_connections"} 3`,
		`flowmesh_budget_limit{budget="grpc_connections"} 4096`,
		`flowmesh_budget_use{budget="raft_inflight_bytes"} 100`,
		`flowmesh_budget_limit{budget="raft_inflight_bytes"} 1.048576e+06`,
		`flowmesh_budget_refused_total{budget="raft_connections",reason="over_limit"} 7`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
