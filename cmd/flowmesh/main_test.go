package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/internal/buildinfo"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// startNode serves a single-node storage.Storage over gRPC on 127.0.0.1:0
// and returns its address; both stop when the test ends.
func startNode(t *testing.T) string {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with mod adjusting the server's config.
func startNodeWith(t *testing.T, mod func(*rpc.Config)) string {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	rcfg := rpc.Config{Logger: cfg.Logger, GRPCAddr: addr}
	if mod != nil {
		mod(&rcfg)
	}
	srv := rpc.NewServer(rcfg, s)
	go srv.Serve(lis)
	t.Cleanup(func() {
		srv.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("storage Stop: %v", err)
		}
	})
	return addr
}

// result is one CLI run.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs the CLI in-process with args and stdin.
func cli(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	getenv := func(string) string { return "" }
	code := run(t.Context(), args, getenv, strings.NewReader(stdin), &out, &errb)
	recordRun(args, code)
	return result{code, out.String(), errb.String()}
}

// must runs the CLI and fails the test unless the exit status is want.
func must(t *testing.T, want int, stdin string, args ...string) result {
	t.Helper()
	r := cli(t, stdin, args...)
	if r.code != want {
		t.Fatalf("flowmesh %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"kv", "get", "t1/ns1/cfg"},
		{"kv", "get", "t1//cfg", "k"},
		{"kv", "put", "t1/ns1/cfg", "k"}, // no value
		{"kv", "put", "t1/ns1/cfg", "k", "v", "--file", "f"},
		{"kv", "put", "t1/ns1/cfg", "k", "v", "--ttl", "soon"},
		{"kv", "list", "t1/ns1/cfg", "--limit", "0"},
		{"-o", "yaml", "kv", "get", "t1/ns1/cfg", "k"},
		{"--consistency", "eventual", "kv", "get", "t1/ns1/cfg", "k"},
		{"stream", "create", "t1/ns1/ev", "--partitions", "0"},
		{"stream", "write", "t1/ns1/ev"},
		{"stream", "write", "t1/ns1/ev", "x", "--header", "nokv"},
		{"queue", "nack", "t1/ns1/q", "job"},
		{"queue", "reserve", "t1/ns1/q", "--max", "0"},
		{"queue", "reserve", "t1/ns1/q", "--max", "101"},
		{"queue", "enqueue", "t1/ns1/q", "a", "b", "--dedup-id", "d"},
		{"queue", "enqueue", "t1/ns1/q", "a", "-"},
		{"queue", "ack", "t1/ns1/q", "1.0:1", "1.1:0"},
		{"queue", "ack", "t1/ns1/q", "1.0:1", "1.1:1", "--attempt", "1"},
		{"bench", "queue", "--batch", "101"},
		{"queue", "create", "t1/ns1/q", "--dead-letter", "bad"},
		{"resources", "list"},
		{"resources", "list", "bad tenant"},
		{"bench", "nope"},
		{"bench", "kv-put", "-c", "0"},
		{"bench", "stream-append", "--batch", "100000"},
		{"--endpoints", " , ", "kv", "get", "t1/ns1/cfg", "k"},
		{"cluster", "join", "256.1.1.1:99999"},
		{"cluster", "join", "127.0.0.1:7402", "nohost"},
		{"txn", "a.json", "b.json"},
		{"queue"},                                                                // a group without its command
		{"queue", "frobnicate", "t1/ns1/jobs"},                                   // no such command
		{"cluster", "snapshot", "t1"},                                            // nested group, unknown command
		{"--endpoints", "http://127.0.0.1:7400", "kv", "get", "t1/ns1/cfg", "k"}, // a URL, not host:port
	} {
		r := cli(t, "", args...)
		if r.code != exitUsage {
			t.Errorf("flowmesh %q: exit %d, want 2\nstderr: %s", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stderr, "Error:") {
			t.Errorf("flowmesh %q: stderr %q lacks an error message", args, r.stderr)
		}
	}
}

func TestHelpAndCompletion(t *testing.T) {
	for _, args := range [][]string{
		{"--help"}, {"kv", "--help"}, {"kv", "put", "--help"}, {"stream", "tail", "--help"},
		{"queue", "reserve", "-h"}, {"bench", "--help"}, {"cluster", "status", "--help"},
	} {
		r := must(t, 0, "", args...)
		if !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("flowmesh %q: no usage in output:\n%s", args, r.stdout)
		}
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if r := must(t, 0, "", "completion", sh); len(r.stdout) < 100 {
			t.Errorf("completion %s: %d bytes of script", sh, len(r.stdout))
		}
	}
}

func TestUnreachableServerExit1(t *testing.T) {
	r := must(t, exitServer, "", "--endpoints", "127.0.0.1:1", "--timeout", "500ms", "kv", "get", "t1/ns1/cfg", "k")
	if !strings.Contains(r.stderr, "Error:") {
		t.Errorf("stderr %q lacks the error", r.stderr)
	}
}

func TestCommandsAgainstNode(t *testing.T) {
	ep := []string{"--endpoints", startNode(t)}
	fm := func(want int, stdin string, args ...string) result {
		t.Helper()
		return must(t, want, stdin, append(append([]string{}, ep...), args...)...)
	}

	// KV: the README's quick start.
	fm(0, "", "kv", "create", "t1/ns1/cfg")
	fm(1, "", "kv", "create", "t1/ns1/cfg") // already exists: a server error
	fm(0, "", "kv", "put", "t1/ns1/cfg", "greeting", "hello")
	if r := fm(0, "", "kv", "get", "t1/ns1/cfg", "greeting"); r.stdout != "hello\n" {
		t.Errorf("kv get = %q, want hello", r.stdout)
	}
	fm(0, "from stdin", "kv", "put", "t1/ns1/cfg", "piped", "-")
	var e kvEntry
	decode(t, fm(0, "", "kv", "get", "t1/ns1/cfg", "piped", "-o", "json").stdout, &e)
	if string(e.Value) != "from stdin" || e.Revision == 0 {
		t.Errorf("kv get -o json = %+v", e)
	}
	if r := fm(1, "", "kv", "get", "t1/ns1/cfg", "missing"); !strings.Contains(r.stderr, "not found") {
		t.Errorf("missing key: stderr %q", r.stderr)
	}
	fm(1, "", "kv", "put", "t1/ns1/cfg", "greeting", "x", "--if-revision", "999") // CAS mismatch
	var list []kvEntry
	decode(t, fm(0, "", "kv", "list", "t1/ns1/cfg", "-o", "json").stdout, &list)
	if len(list) != 2 {
		t.Errorf("kv list: %d entries, want 2", len(list))
	}
	r := fm(0, "", "kv", "watch", "t1/ns1/cfg", "--from-revision", "1", "--max", "2", "-o", "json")
	if n := strings.Count(r.stdout, "\n"); n != 2 {
		t.Errorf("kv watch --max 2 printed %d lines:\n%s", n, r.stdout)
	}
	fm(0, "", "kv", "del", "t1/ns1/cfg", "piped")

	// Streams.
	fm(0, "", "stream", "create", "t1/ns1/ev", "--partitions", "2")
	fm(0, "", "stream", "write", "t1/ns1/ev", "a", "b", "--header", "src=test")
	fm(0, "c\nd\n", "stream", "write", "t1/ns1/ev", "-", "--lines")
	var msgs []message
	decode(t, fm(0, "", "stream", "read", "t1/ns1/ev", "-o", "json").stdout, &msgs)
	if len(msgs) != 4 || string(msgs[0].Payload) != "a" || msgs[0].Headers["src"] != "test" || string(msgs[3].Payload) != "d" {
		t.Errorf("stream read = %+v", msgs)
	}
	if r := fm(0, "", "stream", "tail", "t1/ns1/ev", "--offset", "1", "--max", "2"); strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("stream tail --max 2:\n%s", r.stdout)
	}

	// Queues.
	fm(0, "", "queue", "create", "t1/ns1/jobs", "--max-attempts", "3")
	fm(0, "", "queue", "enqueue", "t1/ns1/jobs", "job-1")
	var j job
	decode(t, fm(0, "", "queue", "reserve", "t1/ns1/jobs", "-o", "json").stdout, &j)
	if string(j.Payload) != "job-1" || j.Attempt != 1 {
		t.Fatalf("reserve = %+v", j)
	}
	fm(1, "", "queue", "ack", "t1/ns1/jobs", j.ID, "--attempt", "7") // stale receipt
	fm(0, "", "queue", "nack", "t1/ns1/jobs", j.ID, "--attempt", "1")
	decode(t, fm(0, "", "queue", "reserve", "t1/ns1/jobs", "-o", "json").stdout, &j)
	fm(0, "", "queue", "ack", "t1/ns1/jobs", j.ID, "--attempt", "2")
	var st queueStats
	decode(t, fm(0, "", "queue", "stats", "t1/ns1/jobs", "-o", "json").stdout, &st)
	if st.Ready != 0 || st.InFlight != 0 {
		t.Errorf("stats after ack = %v", st)
	}
	if r := fm(0, "", "queue", "reserve", "t1/ns1/jobs"); r.stdout != "" {
		t.Errorf("reserve on an empty queue printed %q", r.stdout)
	}
	fm(0, "", "queue", "dead", "t1/ns1/jobs", "-o", "json")

	// Queue batches: several payloads are one EnqueueBatch, --max reserves a
	// batch, JOB_ID:ATTEMPT receipts are one AckBatch with per-receipt results.
	var enq []struct {
		ID  string `json:"id"`
		Seq uint64 `json:"seq"`
	}
	decode(t, fm(0, "", "queue", "enqueue", "t1/ns1/jobs", "b1", "b2", "b3", "-o", "json").stdout, &enq)
	if len(enq) != 3 || enq[0].ID == "" || enq[2].Seq <= enq[0].Seq {
		t.Fatalf("enqueue of 3 payloads = %+v", enq)
	}
	if r := fm(0, "", "queue", "enqueue", "t1/ns1/jobs", "b4", "b5"); strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("enqueue of 2 payloads printed %q, want two job IDs", r.stdout)
	}
	var js []job
	decode(t, fm(0, "", "queue", "reserve", "t1/ns1/jobs", "--max", "4", "-o", "json").stdout, &js)
	if len(js) != 4 || string(js[0].Payload) != "b1" || string(js[3].Payload) != "b4" {
		t.Fatalf("reserve --max 4 = %+v", js)
	}
	if r := fm(0, "", "queue", "reserve", "t1/ns1/jobs", "--max", "10", "--wait", "50ms"); !strings.Contains(r.stdout, "b5") {
		t.Errorf("reserve --max 10 --wait: %q, want b5", r.stdout)
	}
	r = fm(1, "", "queue", "ack", "t1/ns1/jobs", js[0].ID+":1", js[1].ID+":9", js[2].ID+":1", "-o", "json") // one stale receipt
	var acks []struct {
		ID    string `json:"id"`
		Acked bool   `json:"acked"`
		Error string `json:"error"`
	}
	decode(t, r.stdout, &acks)
	if len(acks) != 3 || !acks[0].Acked || acks[1].Acked || !strings.Contains(acks[1].Error, "stale") || !acks[2].Acked {
		t.Errorf("ack with a stale receipt among three = %+v", acks)
	}
	fm(0, "", "queue", "ack", "t1/ns1/jobs", js[1].ID+":1", js[3].ID+":1")
	decode(t, fm(0, "", "queue", "stats", "t1/ns1/jobs", "-o", "json").stdout, &st)
	if st.Ready != 0 || st.InFlight != 1 {
		t.Errorf("stats after batch acks = %v, want b5 alone in flight", st)
	}
	decode(t, fm(0, "", "queue", "reserve", "t1/ns1/jobs", "--max", "5", "-o", "json").stdout, &js)
	if len(js) != 0 {
		t.Errorf("reserve --max on an empty queue = %+v, want []", js)
	}

	// Resources and cluster.
	var rs []resource
	decode(t, fm(0, "", "resources", "list", "t1", "-o", "json").stdout, &rs)
	if len(rs) != 3 {
		t.Errorf("resources list: %d, want 3: %+v", len(rs), rs)
	}
	fm(0, "", "resources", "delete", "--yes", "t1/ns1/jobs")
	fm(1, "", "resources", "get", "t1/ns1/jobs")
	var cs []map[string]any
	decode(t, fm(0, "", "cluster", "status", "-o", "json").stdout, &cs)
	if len(cs) != 1 || cs[0]["role"] != "leader" || cs[0]["health"] != "healthy" {
		t.Errorf("cluster status = %v", cs)
	}
	fm(1, "", "stream", "read", "t1/ns1/nope")
}

func TestBench(t *testing.T) {
	ep := startNode(t)
	for _, tc := range []struct {
		workload string
		phases   int
		batch    string
		extra    []string
	}{
		{"kv-put", 1, "10", nil}, {"stream-append", 1, "10", nil}, {"queue", 2, "10", nil}, {"queue", 2, "", nil}, {"txn", 2, "", nil},
		// The read workloads prefill first (small, to stay quick).
		{"kv-get", 1, "", []string{"--keys", "200"}}, {"stream-read", 1, "10", []string{"--prefill", "500"}},
	} {
		args := []string{"--endpoints", ep, "bench", tc.workload, "-d", "700ms", "-c", "4", "-o", "json"}
		if tc.batch != "" {
			args = append(args, "--batch", tc.batch)
		}
		args = append(args, tc.extra...)
		r := must(t, 0, "", args...)
		var rs []benchResult
		decode(t, r.stdout, &rs)
		if len(rs) != tc.phases {
			t.Fatalf("bench %s: %d phases, want %d", tc.workload, len(rs), tc.phases)
		}
		for _, res := range rs {
			if res.Ops == 0 || res.OpsPerSec <= 0 || res.LatencyMs.P50 <= 0 || res.LatencyMs.P999 < res.LatencyMs.P50 {
				t.Errorf("bench %s %s: %+v", tc.workload, res.Phase, res)
			}
			if tc.workload != "queue" {
				continue
			}
			// Queue: jobs/s counts jobs; a batch of 10 moves up to 10 per op,
			// the default (1) one per op.
			switch {
			case tc.batch == "" && (res.Batch != 1 || res.JobsPerSec != res.OpsPerSec):
				t.Errorf("bench queue without --batch %s: batch %d, %v jobs/s, %v ops/s; want one job per op", res.Phase, res.Batch, res.JobsPerSec, res.OpsPerSec)
			case tc.batch == "10" && (res.Batch != 10 || res.JobsPerSec <= res.OpsPerSec || res.JobsPerSec > 10*res.OpsPerSec*(1+1e-9)):
				t.Errorf("bench queue --batch 10 %s: batch %d, %v jobs/s, %v ops/s; want up to 10 jobs per op", res.Phase, res.Batch, res.JobsPerSec, res.OpsPerSec)
			}
		}
		// Both rates divide by the same elapsed time; compare with a relative
		// tolerance, since float64(10*n)/e and 10*(float64(n)/e) may differ in the last bit.
		if tc.workload == "stream-append" && math.Abs(rs[0].EventsPerSec-10*rs[0].OpsPerSec) > 1e-9*rs[0].EventsPerSec {
			t.Errorf("events/s %v != 10 * ops/s %v", rs[0].EventsPerSec, rs[0].OpsPerSec)
		}
	}
	// The table output names the columns; the bench resources were removed.
	r := must(t, 0, "", "--endpoints", ep, "bench", "kv-get", "-d", "300ms", "-c", "2", "--keys", "50")
	if !strings.Contains(r.stdout, "P99.9") {
		t.Errorf("table output:\n%s", r.stdout)
	}
	// --cpu-profile writes a pprof profile (gzipped protobuf) of the client;
	// a path that cannot be created is a usage error, and nothing runs.
	prof := filepath.Join(t.TempDir(), "client.prof")
	must(t, 0, "", "--endpoints", ep, "bench", "kv-put", "-d", "300ms", "-c", "2", "--cpu-profile", prof)
	if b, err := os.ReadFile(prof); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("cpu profile: %d bytes, %v; want a gzipped pprof profile", len(b), err)
	}
	r = must(t, 2, "", "--endpoints", ep, "bench", "kv-put", "-d", "300ms", "--cpu-profile", filepath.Join(t.TempDir(), "no", "such", "dir", "p"))
	if !strings.Contains(r.stderr, "--cpu-profile") {
		t.Errorf("bad --cpu-profile path: stderr %q", r.stderr)
	}
	var rs []resource
	decode(t, must(t, 0, "", "--endpoints", ep, "resources", "list", "bench", "-o", "json").stdout, &rs)
	if len(rs) != 0 {
		t.Errorf("bench left %d resources behind", len(rs))
	}
}

func TestQuantile(t *testing.T) {
	s := make([]float64, 1000)
	for i := range s {
		s[i] = float64(i + 1)
	}
	for _, tc := range []struct{ q, want float64 }{{0.5, 500}, {0.99, 990}, {0.999, 999}, {1, 1000}} {
		if got := quantile(s, tc.q); got != tc.want {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("quantile(nil) = %v", got)
	}
}

func TestVersion(t *testing.T) {
	r := must(t, 0, "", "version")
	if !strings.HasPrefix(r.stdout, "client") || !strings.Contains(r.stdout, buildinfo.Version()) {
		t.Errorf("version = %q", r.stdout)
	}
	must(t, 2, "", "version", "extra")
}

// TestAdminCommands: touch, redrive, purge, stream info with a consumer
// group's lag, commit; destructive commands refuse to run without --yes
// when there is no terminal to ask on (exit 2, nothing changed).
func TestAdminCommands(t *testing.T) {
	ep := []string{"--endpoints", startNode(t)}
	fm := func(want int, args ...string) result {
		t.Helper()
		return must(t, want, "", append(append([]string{}, ep...), args...)...)
	}
	stats := func() queueStats {
		t.Helper()
		var st queueStats
		decode(t, fm(0, "queue", "stats", "t1/ns1/q", "-o", "json").stdout, &st)
		return st
	}

	fm(0, "queue", "create", "t1/ns1/q", "--max-attempts", "1")
	fm(0, "queue", "enqueue", "t1/ns1/q", "a", "b")
	var j job
	decode(t, fm(0, "queue", "reserve", "t1/ns1/q", "-o", "json").stdout, &j)
	fm(0, "queue", "touch", "t1/ns1/q", j.ID+":1", "--visibility", "1m")
	fm(1, "queue", "touch", "t1/ns1/q", j.ID+":9") // stale receipt
	fm(2, "queue", "touch", "t1/ns1/q", j.ID)      // no attempt
	fm(2, "queue", "touch", "t1/ns1/q", j.ID+":1", "--visibility", "0s")
	if st := stats(); st.InFlight != 1 || st.Ready != 1 {
		t.Fatalf("stats after touch = %v", st)
	}
	fm(0, "queue", "nack", "t1/ns1/q", j.ID, "--attempt", "1") // its only attempt: dead
	if st := stats(); st.Dead != 1 {
		t.Fatalf("stats after the last attempt's nack = %v, want 1 dead", st)
	}
	if r := fm(0, "queue", "redrive", "t1/ns1/q"); r.stdout != "redrove 1 dead jobs\n" {
		t.Errorf("redrive printed %q", r.stdout)
	}
	if st := stats(); st.Ready != 2 || st.Dead != 0 {
		t.Fatalf("stats after redrive = %v, want 2 ready", st)
	}
	if r := fm(2, "queue", "purge", "t1/ns1/q"); !strings.Contains(r.stderr, "--yes") {
		t.Errorf("purge without --yes: stderr %q", r.stderr)
	}
	if st := stats(); st.Ready != 2 {
		t.Fatalf("a refused purge changed the queue: %v", st)
	}
	var purged map[string]int
	decode(t, fm(0, "queue", "purge", "t1/ns1/q", "--yes", "-o", "json").stdout, &purged)
	if purged["purged"] != 2 || stats().Ready != 0 {
		t.Errorf("purge --yes = %v, stats %v", purged, stats())
	}

	fm(0, "stream", "create", "t1/ns1/s", "--partitions", "2")
	fm(0, "stream", "write", "t1/ns1/s", "e1", "e2", "e3")
	fm(0, "stream", "write", "t1/ns1/s", "f1", "--partition", "1")
	var rows []partitionRow
	decode(t, fm(0, "stream", "info", "t1/ns1/s", "-o", "json").stdout, &rows)
	if len(rows) != 2 || rows[0].Next != 3 || rows[1].Next != 1 || rows[0].Bytes == 0 || rows[0].Lag != nil {
		t.Fatalf("stream info = %+v", rows)
	}
	fm(0, "stream", "commit", "t1/ns1/s", "g", "0", "1")
	decode(t, fm(0, "stream", "info", "t1/ns1/s", "--group", "g", "-o", "json").stdout, &rows)
	if len(rows) != 2 || rows[0].Committed == nil || *rows[0].Committed != 1 || *rows[0].Lag != 2 ||
		rows[1].Committed != nil || *rows[1].Lag != 1 {
		t.Fatalf("stream info --group g = %+v", rows)
	}
	if out := fm(0, "stream", "info", "t1/ns1/s", "--group", "g", "--partition", "0").stdout; !strings.Contains(out, "LAG") || strings.Count(out, "\n") != 2 {
		t.Errorf("stream info table:\n%s", out)
	}
	fm(2, "stream", "commit", "t1/ns1/s", "g", "x", "1")
	fm(2, "stream", "commit", "t1/ns1/s", "g", "0", "-1")
	fm(1, "stream", "info", "t1/ns1/s", "--partition", "5")
	fm(1, "stream", "info", "t1/ns1/q") // a queue

	fm(2, "resources", "delete", "t1/ns1/s")
	fm(0, "resources", "get", "t1/ns1/s") // still there
	fm(0, "resources", "delete", "t1/ns1/s", "-y")
	fm(1, "resources", "get", "t1/ns1/s")
}
