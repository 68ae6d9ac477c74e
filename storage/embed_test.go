package storage_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/flowmesh/flowmesh/storage"
)

// scrapeRegistry renders a registry as Prometheus' text format.
func scrapeRegistry(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(g, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEmbeddedMetricsOnOwnRegistry: an embedding program registers the
// node's flowmesh_* series on its own registry, and they show the node's
// state (a queue's depth, a stream's size, a group's lag, leadership);
// RegisterRaftMetrics adds raft's and the write path's timings.
func TestEmbeddedMetricsOnOwnRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := storage.RegisterRaftMetrics(reg); err != nil {
		t.Fatal(err)
	}
	s, _ := startNode(t)
	if err := s.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q, err := s.CreateQueue(ctx, "t1", "ns1", "jobs", 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := s.Enqueue(ctx, q.GetPath(), []byte(fmt.Sprint("job", i)), storage.QueueEnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if job, err := s.Reserve(ctx, q.GetPath(), time.Minute); err != nil || job == nil {
		t.Fatalf("reserve: %v, %v", job, err)
	}
	st, err := s.CreateStream(ctx, "t1", "ns1", "events", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteEvents(ctx, st.GetPath(), []storage.StreamEvent{{Payload: []byte("a")}, {Payload: []byte("b")}, {Payload: []byte("c")}, {Payload: []byte("d")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffset(ctx, st.GetPath(), "g1", 0, 1); err != nil {
		t.Fatal(err)
	}
	status, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}

	out := scrapeRegistry(t, reg)
	for _, want := range []string{
		"flowmesh_is_leader 1",
		"flowmesh_raft_has_leader 1",
		"flowmesh_node_stats_up 1",
		`flowmesh_queue_jobs{path="t1/ns1/jobs",state="ready"} 2`,
		`flowmesh_queue_jobs{path="t1/ns1/jobs",state="in_flight"} 1`,
		`flowmesh_consumer_group_lag{group="g1",partition="0",path="t1/ns1/events"} 3`,
		`flowmesh_stream_bytes{path="t1/ns1/events"}`,
		fmt.Sprintf(`flowmesh_raft_term{role="leader"} %d`, status.Term),
		"flowmesh_raft_commit_time_seconds_bucket",
		"flowmesh_write_total_seconds_bucket",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("embedded scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `flowmesh_stream_bytes{path="t1/ns1/events"} 0`+"\n") {
		t.Error("stream_bytes is 0 after four events")
	}
	if t.Failed() {
		t.Logf("scrape:\n%s", out)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// A second registration of the node's series on the same registry is
	// refused, not silently doubled.
	if err := s.RegisterMetrics(reg); err == nil {
		t.Error("registering the node's metrics twice on one registry succeeded")
	}
}

// embedLogEnv names the file the child of TestEmbeddedLogsGoToHandler
// writes its records to; set, the test runs as that child.
const embedLogEnv = "FLOWMESH_TEST_EMBED_LOG_FILE"

// TestEmbeddedLogsGoToHandler runs a two-node embedded cluster in a child
// process whose Config.Logger is a JSON handler on a file: raft's lines
// (the election), memberlist's and the node's own reach that handler, and
// the process writes nothing at all to stderr (a library logging through
// the standard log package or its own default would).
func TestEmbeddedLogsGoToHandler(t *testing.T) {
	if path := os.Getenv(embedLogEnv); path != "" {
		embeddedLogChild(t, path)
		return
	}
	if testing.Short() {
		t.Skip("runs a child process with a two-node cluster")
	}
	logFile := filepath.Join(t.TempDir(), "records.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestEmbeddedLogsGoToHandler$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), embedLogEnv+"="+logFile, "FLOWMESH_TEST_LOG=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "--- PASS: TestEmbeddedLogsGoToHandler") {
		t.Fatalf("child did not run the test:\n%s", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("the embedding process wrote %d bytes to stderr:\n%s", stderr.Len(), stderr.String())
	}

	f, err := os.Open(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type record struct {
		Level, Msg, Component string
	}
	var records []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("handler got a line that is not a JSON record: %q: %v", sc.Text(), err)
		}
		records = append(records, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	has := func(component, msg string) bool {
		for _, r := range records {
			if r.Component == component && strings.Contains(r.Msg, msg) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ component, msg string }{
		{"raft", "entering leader state"},
		{"raft", "election won"},
		{"raft", "entering follower state"},
		{"membership", "memberlist:"},
		{"storage", ""},
	} {
		if !has(want.component, want.msg) {
			t.Errorf("no %s record with %q among the handler's %d records", want.component, want.msg, len(records))
		}
	}
}

// embeddedLogChild is the child's part: two nodes logging to path.
func embeddedLogChild(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	log := slog.New(slog.NewJSONHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))
	nodes := startCluster(t, 2, func(c *storage.Config) { c.Logger = log })
	ctx := context.Background()
	for _, n := range nodes {
		if err := n.s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
