package cluster_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/flowmesh/flowmesh"
)

// scrape returns nd's /metrics body ("" if it does not answer).
func (nd *Node) scrape() string { return nd.adminGet("/metrics") }

// adminGet returns the body of path on nd's HTTP admin port, over HTTPS
// verified with the cluster's CA on a secure cluster ("" unless it
// answers 200).
func (nd *Node) adminGet(path string) string {
	scheme := "http://"
	if nd.c.clientTLS != nil {
		scheme = "https://"
	}
	resp, err := nd.c.https.Get(scheme + nd.HTTPAddr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// waitSeries waits until nd's /metrics holds every line prefix in want.
func waitSeries(t *testing.T, nd *Node, when string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		body := nd.scrape()
		missing := ""
		for _, w := range want {
			if !strings.Contains(body, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: /metrics lacks %q", nd.ID, when, missing)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestMetricsOnEveryNode: queue and stream series come from each node's own
// state, so every node exports them, also a follower no client talked to,
// right after a restart, and after a failover (they used to cover only the
// tenants a node had seen a call for since it started, and followers
// exported none).
func TestMetricsOnEveryNode(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3)
	leader := c.Leader(20 * time.Second)
	ctx := withTimeout(t, 90*time.Second)
	cl := c.Client(retryingConfig())
	if _, err := cl.CreateQueue(ctx, "t1", "ns1", "jobs", 1); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if _, _, err := cl.Enqueue(ctx, "t1/ns1/jobs", []byte(fmt.Sprint(i)), flowmesh.QueueEnqueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.CreateStream(ctx, "t2", "ns1", "events", 2); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.WriteEvents(ctx, "t2/ns1/events", []flowmesh.StreamEvent{{Payload: []byte("e1")}, {Payload: []byte("e2")}}); err != nil {
		t.Fatal(err)
	}
	if err := cl.CommitOffset(ctx, "t2/ns1/events", "billing", 0, 1); err != nil {
		t.Fatal(err)
	}
	// A job of a two-attempt queue nacked twice: one redelivery, then dead.
	if _, err := cl.CreateQueue(ctx, "t1", "ns1", "retry", 1, flowmesh.WithMaxAttempts(2)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cl.Enqueue(ctx, "t1/ns1/retry", []byte("x"), flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		j, err := cl.Reserve(ctx, "t1/ns1/retry", time.Minute)
		if err != nil || j == nil || j.Attempt != attempt {
			t.Fatalf("Reserve = %+v, %v; want attempt %d", j, err, attempt)
		}
		if err := cl.Nack(ctx, "t1/ns1/retry", j.Receipt, 0); err != nil {
			t.Fatal(err)
		}
	}
	// The counters are each node's since it started: exact before any
	// restart, present (from zero) after one.
	counted := []string{`flowmesh_queue_redelivered_total{path="t1/ns1/retry"} 1`, `flowmesh_queue_dead_total{path="t1/ns1/retry"} 1`,
		`flowmesh_queue_jobs{path="t1/ns1/retry",state="dead"} 1`}
	want := []string{`flowmesh_queue_jobs{path="t1/ns1/jobs",state="ready"} 7`,
		`flowmesh_queue_redelivered_total{path="t1/ns1/retry"} `, `flowmesh_queue_dead_total{path="t1/ns1/retry"} `, `flowmesh_stream_bytes{path="t2/ns1/events"} `,
		`flowmesh_consumer_group_lag{group="billing",partition="0",path="t2/ns1/events"} 1`}
	for _, nd := range c.Nodes {
		want = append(want, fmt.Sprintf(`flowmesh_member_applied_index{node=%q} `, nd.ID), fmt.Sprintf(`flowmesh_member_lag{node=%q} `, nd.ID))
	}
	for _, nd := range c.Nodes {
		waitSeries(t, nd, "before any restart", append(want, counted...)...)
	}

	for _, nd := range c.Nodes {
		checkScrape(t, nd.ID+" before any restart", nd.scrape())
	}
	checkNamesExported(t, "the leader "+c.Nodes[leader].ID, c.Nodes[leader].scrape())

	follower := c.Nodes[(leader+1)%3]
	follower.Kill()
	follower.Start()
	follower.WaitReady(60 * time.Second)
	waitSeries(t, follower, "after SIGKILL and restart", want...)
	checkScrape(t, follower.ID+" after SIGKILL and restart", follower.scrape())

	// Fail the leader over, then bring it back: every one of the three
	// nodes (the restarted follower, the new leader, the old leader
	// restarted as a follower) exports the series and a clean scrape.
	old := c.Nodes[leader]
	old.Kill()
	next := c.Leader(60 * time.Second)
	for _, nd := range c.Running() {
		waitSeries(t, nd, fmt.Sprintf("after the leader failed over to %s", c.Nodes[next].ID), want...)
	}
	old.Start()
	old.WaitReady(60 * time.Second)
	for _, nd := range c.Nodes {
		when := fmt.Sprintf("after the failover to %s and %s's restart", c.Nodes[next].ID, old.ID)
		waitSeries(t, nd, when, want...)
		checkScrape(t, nd.ID+" "+when, nd.scrape())
	}
}

// checkScrape runs `promtool check metrics` on a node's scrape (when
// promtool is on PATH; required with FLOWMESH_REQUIRE_PROMTOOL=1, which
// .ci/run sets after installing it) and lints it with promlint, the
// library promtool's check uses.
func checkScrape(t *testing.T, which, body string) {
	t.Helper()
	if body == "" {
		t.Fatalf("%s: empty scrape", which)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", which, err, out)
		}
	} else if os.Getenv("FLOWMESH_REQUIRE_PROMTOOL") == "1" {
		t.Fatal("FLOWMESH_REQUIRE_PROMTOOL=1 but no promtool on PATH")
	}
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: promlint: %s: %s", which, p.Metric, p.Text)
	}
}

// checkNamesExported checks that every flowmesh_ and grpc_server_ metric
// the shipped alert rules and Grafana dashboard name is in a scrape (of a
// leader that served calls: raft's commit timings and the gRPC series of a
// method appear once there is one); a renamed metric would silently blank
// them.
func checkNamesExported(t *testing.T, which, body string) {
	t.Helper()
	re := regexp.MustCompile(`(flowmesh|grpc_server)_[a-z0-9_]+`)
	for _, f := range []string{"../../deploy/prometheus/flowmesh-rules.yml", "../../deploy/grafana/flowmesh-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range re.FindAllString(string(b), -1) {
			if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(body) {
				t.Errorf("%s: %s names %s, which the node does not export", which, f, name)
			}
		}
	}
}
