package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// TestResourceSeriesAreBounded: with more streams and queues than
// MaxResourceSeries, the largest of each keep their own series and the
// rest are summed under path="_other".
func TestResourceSeriesAreBounded(t *testing.T) {
	var stats NodeStats
	n := MaxResourceSeries + 500
	var otherBytes, otherReady int
	for i := 0; i < n; i++ {
		stats.Streams = append(stats.Streams, StreamStats{Path: fmt.Sprintf("t/ns/s%05d", i), Bytes: int64(i)})
		stats.Queues = append(stats.Queues, QueueStats{Path: fmt.Sprintf("t/ns/q%05d", i),
			Stats: flowmesh.QueueStats{Ready: i, Dead: 1, OldestReadyAge: time.Duration(i) * time.Second}, Redelivered: 2, Dead: 1})
		if i < 500 {
			otherBytes += i
			otherReady += i
		}
	}
	r := New()
	if err := r.Register(NewNodeCollector(func(context.Context) (NodeStats, error) { return stats, nil }, time.Second)); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, r)
	for _, want := range []string{
		fmt.Sprintf(`flowmesh_stream_bytes{path="t/ns/s%05d"} %d`, n-1, n-1),
		`flowmesh_stream_bytes{path="t/ns/s00500"} 500`,
		fmt.Sprintf(`flowmesh_stream_bytes{path="_other"} %d`, otherBytes),
		fmt.Sprintf(`flowmesh_queue_jobs{path="_other",state="ready"} %d`, otherReady),
		`flowmesh_queue_jobs{path="_other",state="dead"} 500`,
		`flowmesh_queue_oldest_ready_age_seconds{path="_other"} 499`,
		`flowmesh_queue_redelivered_total{path="_other"} 1000`,
		`flowmesh_queue_dead_total{path="_other"} 500`,
		fmt.Sprintf(`flowmesh_queue_redelivered_total{path="t/ns/q%05d"} 2`, n-1),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `path="t/ns/s00499"`) || strings.Contains(out, `path="t/ns/q00499"`) {
		t.Error("a resource beyond the largest has its own series")
	}
	if got, want := strings.Count(out, "flowmesh_stream_bytes{"), MaxResourceSeries+1; got != want {
		t.Errorf("%d stream series, want %d", got, want)
	}
	for _, name := range []string{"flowmesh_queue_oldest_ready_age_seconds{", "flowmesh_queue_redelivered_total{", "flowmesh_queue_dead_total{"} {
		if got, want := strings.Count(out, name), MaxResourceSeries+1; got != want {
			t.Errorf("%d %s series, want %d", got, name, want)
		}
	}
}
