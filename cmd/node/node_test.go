package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/internal/freeport"
)

// The tests here run the node as a real process: built once per test
// binary, started on 127.0.0.1 with free ports and a temp data dir.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func nodeBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flowmesh-node-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "flowmesh-node")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// proc is a running node process.
type proc struct {
	cmd        *exec.Cmd
	grpcAddr   string
	httpAddr   string
	gossipAddr string
	logs       *syncBuffer
	done       chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode starts the node on dataDir and waits for /readyz.
func startNode(t *testing.T, dataDir string, extra ...string) *proc {
	t.Helper()
	return startNodeWith(t, dataDir, "http", http.DefaultClient, extra...)
}

// startNodeWith starts the node with extra args and waits for /readyz,
// asked with hc over scheme.
func startNodeWith(t *testing.T, dataDir, scheme string, hc *http.Client, extra ...string) *proc {
	t.Helper()
	return startProc(t, nodeBinary(t), dataDir, scheme, hc, extra...)
}

// startNodeBinary starts bin (the node, or a wrapper that execs it) as
// startNode does.
func startNodeBinary(t *testing.T, bin, dataDir string, extra ...string) *proc {
	t.Helper()
	return startProc(t, bin, dataDir, "http", http.DefaultClient, extra...)
}

func startProc(t *testing.T, bin, dataDir, scheme string, hc *http.Client, extra ...string) *proc {
	t.Helper()
	p := launchProc(t, bin, dataDir, extra...)
	p.waitReady(t, scheme, hc)
	return p
}

// launchProc starts the node without waiting for it; cleanup kills it.
func launchProc(t *testing.T, bin, dataDir string, extra ...string) *proc {
	t.Helper()
	p := &proc{grpcAddr: freeport.Addr(t), httpAddr: freeport.Addr(t), gossipAddr: freeport.Addr(t), logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(bin,
		"--data-dir", dataDir, "--grpc-addr", p.grpcAddr, "--http-addr", p.httpAddr,
		"--raft-addr", freeport.Addr(t), "--gossip-addr", p.gossipAddr, "--log-level", "warn", "--shutdown-timeout", "5s")
	p.cmd.Args = append(p.cmd.Args, extra...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil // later waits see an exited process
		if t.Failed() {
			t.Logf("node logs:\n%s", p.logs.String())
		}
	})
	return p
}

// waitReady waits until /readyz, asked with hc over scheme, answers 200.
func (p *proc) waitReady(t *testing.T, scheme string, hc *http.Client) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(scheme + "://" + p.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			p.done <- err // for the cleanup's wait
			t.Fatalf("node exited before ready: %v\n%s", err, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node not ready after 30s\n%s", p.logs.String())
		}
	}
}

// stop sends sig and returns the exit status.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitCode()
		default:
			t.Fatalf("wait: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not exit after %v\n%s", sig, p.logs.String())
	}
	return -1
}

func newClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: []string{addr}, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNodeServesAndRestartsCleanly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startNode(t, dir, "--raft-max-connections", "48", "--max-connections", "100", "--max-subscribers", "77", "--max-watchers", "66",
		"--memory-quota-bytes", "50000000")
	c := newClient(t, p.grpcAddr)
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "cfg"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "t1/ns1/cfg", "greeting", []byte("hello"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if e, err := c.Get(ctx, "t1/ns1/cfg", "greeting"); err != nil || string(e.Value) != "hello" {
		t.Fatalf("Get = %q, %v; want hello", e.Value, err)
	}

	if _, err := c.CreateQueue(ctx, "t2", "ns1", "jobs", 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Enqueue(ctx, "t2/ns1/jobs", []byte("job"), flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatal(err)
	}

	// The leader proposes the configured memory quota soon after it leads.
	memLimit := `flowmesh_budget_limit{budget="memory_bytes"} 5e+07`
	body := httpGet(t, "http://"+p.httpAddr+"/metrics")
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(body, memLimit) && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		body = httpGet(t, "http://"+p.httpAddr+"/metrics")
	}
	mem := flowmesh.MemoryPerResource + flowmesh.MemoryPerKVKey + len("greeting") + len("hello")
	qmem := flowmesh.MemoryPerResource + flowmesh.MemoryPerJob + len("job")
	for _, want := range []string{
		memLimit,
		fmt.Sprintf(`flowmesh_budget_use{budget="memory_bytes"} %d`, mem+qmem),
		fmt.Sprintf(`flowmesh_tenant_usage{quota="memory_bytes",tenant="t1"} %d`, mem),
		fmt.Sprintf(`flowmesh_tenant_usage{quota="memory_bytes",tenant="t2"} %d`, qmem),
		`flowmesh_queue_jobs{path="t2/ns1/jobs",state="ready"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_bucket{grpc_method="Get",grpc_service="flowmesh.v1.KVService",grpc_type="unary",le="5e-05"}`,
		`grpc_server_started_total{grpc_method="Get",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} `,
		`grpc_server_msg_received_total{grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 1`,
		"flowmesh_raft_commit_index", "flowmesh_raft_commit_time_seconds_bucket", "flowmesh_segment_bytes",
		"flowmesh_write_batch_wait_seconds_count", "flowmesh_write_commit_seconds_count", "flowmesh_write_fsm_apply_seconds_count",
		"flowmesh_write_respond_seconds_count", "flowmesh_write_total_seconds_count",
		`flowmesh_build_info{`, `flowmesh_is_leader 1`,
		`flowmesh_budget_limit{budget="grpc_connections"} 100`,
		`flowmesh_budget_use{budget="grpc_connections"} `,
		`flowmesh_budget_limit{budget="raft_connections"} 48`,
		`flowmesh_budget_limit{budget="raft_inflight_bytes"} 1.34217728e+08`,
		`flowmesh_budget_refused_total{budget="raft_connections",reason="over_limit"} 0`,
		`flowmesh_budget_limit{budget="gossip_streams"} 16`,
		`flowmesh_budget_refused_total{budget="gossip",reason="compressed"} 0`,
		`flowmesh_budget_limit{budget="segment_files"} `,
		`flowmesh_budget_limit{budget="subscribers"} 77`,
		`flowmesh_budget_use{budget="subscribers"} 0`,
		`flowmesh_budget_refused_total{budget="subscribers",reason="slow"} 0`,
		`flowmesh_budget_limit{budget="watchers"} 66`,
		`flowmesh_budget_refused_total{budget="watchers",reason="over_limit"} 0`,
		`flowmesh_budget_use{budget="segment_files"} `,
		`flowmesh_budget_limit{budget="kv_history_bytes"} 6.7108864e+07`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Every name follows Prometheus' conventions (promtool check metrics
	// runs the same linter).
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("promlint: %s: %s", pr.Metric, pr.Text)
	}
	if got := httpGet(t, "http://"+p.httpAddr+"/healthz"); got != "ok\n" {
		t.Errorf("/healthz = %q", got)
	}

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0\n%s", code, p.logs.String())
	}
	p = startNode(t, dir)
	c = newClient(t, p.grpcAddr)
	if e, err := c.Get(ctx, "t1/ns1/cfg", "greeting"); err != nil || string(e.Value) != "hello" {
		t.Fatalf("after restart Get = %q, %v; want hello", e.Value, err)
	}
}

func TestNodeKeepsAcknowledgedWritesAfterSIGKILL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := startNode(t, dir)
	c := newClient(t, p.grpcAddr)
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, "t1", "ns1", "ev", 1); err != nil {
		t.Fatal(err)
	}

	// Writers run until the kill; every acknowledged write must survive.
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		evs   int
		wg    sync.WaitGroup
	)
	stopW := make(chan struct{})
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopW:
					return
				default:
				}
				k := fmt.Sprintf("w%d-%d", w, i)
				if _, err := c.Put(ctx, "t1/ns1/kv", k, []byte(k), flowmesh.KVPutOptions{}); err != nil {
					return
				}
				mu.Lock()
				acked[k] = true
				mu.Unlock()
				if w == 0 {
					if _, err := c.WriteEvents(ctx, "t1/ns1/ev", []flowmesh.StreamEvent{{Payload: []byte(k)}}); err != nil {
						return
					}
					mu.Lock()
					evs++
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	p.stop(t, syscall.SIGKILL)
	close(stopW)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before the kill")
	}

	p = startNode(t, dir)
	c2 := newClient(t, p.grpcAddr)
	for k := range acked {
		e, err := c2.Get(ctx, "t1/ns1/kv", k)
		if err != nil || string(e.Value) != k {
			t.Fatalf("acknowledged key %s after SIGKILL: %q, %v", k, e.Value, err)
		}
	}
	info, err := c2.PartitionInfo(ctx, "t1/ns1/ev", 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Next < uint64(evs) {
		t.Fatalf("stream has %d events after SIGKILL, %d were acknowledged", info.Next, evs)
	}
	t.Logf("%d acknowledged puts and %d events survived SIGKILL", len(acked), evs)
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func TestNodeFinishesInFlightCallsOnSIGTERM(t *testing.T) {
	ctx := context.Background()
	p := startNode(t, t.TempDir())
	c := newClient(t, p.grpcAddr)
	if _, err := c.CreateQueue(ctx, "t1", "ns1", "jobs", 1); err != nil {
		t.Fatal(err)
	}
	// A long-poll reserve is in flight when the signal arrives: graceful
	// shutdown lets it run to its end (no job) instead of cutting it off.
	const wait = 1500 * time.Millisecond
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		j, err := c.ReserveWait(ctx, "t1/ns1/jobs", time.Minute, wait)
		if err == nil && j != nil {
			err = fmt.Errorf("got job %s from an empty queue", j.ID)
		}
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, p.logs.String())
	}
	if err := <-done; err != nil {
		t.Fatalf("in-flight ReserveWait: %v", err)
	}
	if el := time.Since(start); el < wait {
		t.Errorf("ReserveWait returned after %v, before its %v wait: it was cut off", el, wait)
	}
}

// TestVersionFlag: --version and "version" print the build and exit 0
// without starting anything (an unstamped build says "dev").
func TestVersionFlag(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(nodeBinary(t), arg).Output()
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		if !strings.HasPrefix(string(out), "flowmesh-node dev (") || !strings.Contains(string(out), runtime.Version()) {
			t.Errorf("%s printed %q", arg, out)
		}
	}
}
