package main

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/segment"
)

func TestParseConfigPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "node.conf")
	if err := os.WriteFile(file, []byte("# comment\n\ndata-dir = /from/file\ngrpc-addr = :1\nlog-format = json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FLOWMESH_GRPC_ADDR": ":2", "FLOWMESH_FLUSH_INTERVAL": "2s", "FLOWMESH_CONFIG": file}
	c, err := parseConfig([]string{"--log-format", "text"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"data-dir (file)", c.DataDir, "/from/file"},
		{"grpc-addr (env over file)", c.GRPCAddr, ":2"},
		{"log-format (flag over file)", c.LogFormat, "text"},
		{"http-addr (default)", c.HTTPAddr, ":7403"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if c.FlushInterval != 2*time.Second {
		t.Errorf("flush-interval = %v, want 2s", c.FlushInterval)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--bogus"}, nil, "not defined"},
		{[]string{"--join", "nohostport"}, nil, "--join"},
		{[]string{"--bootstrap-expect", "-1"}, nil, "negative"},
		{[]string{"--gossip-key", "!!"}, nil, "not base64"},
		{[]string{"--gossip-key", "c2hvcnQ="}, nil, "want 16, 24 or 32"},
		{[]string{"--advertise-grpc", "x"}, nil, "--advertise-grpc"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--grpc-addr", "nope"}, nil, "--grpc-addr"},
		{nil, map[string]string{"FLOWMESH_SEGMENT_MAX_SIZE": "big"}, "FLOWMESH_SEGMENT_MAX_SIZE"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{[]string{"--max-connections", "0"}, nil, "--max-connections 0 must be at least 1"},
		{[]string{"--raft-max-connections", "2"}, nil, "--raft-max-connections 2 must be at least 8"},
		{[]string{"--gossip-max-connections", "-1"}, nil, "--gossip-max-connections -1 must be at least 4"},
		{[]string{"--raft-idle-timeout", "5s"}, nil, "--raft-idle-timeout 5s is below 1m"},
		{[]string{"--kv-history-max-age", "-1s"}, nil, "--kv-history-max-age -1s must be 0 (no time bound) or positive"},
		{[]string{"--config", "/does/not/exist"}, nil, "no such file"},
		{[]string{"--otlp-endpoint", "localhost"}, nil, `--otlp-endpoint "localhost": want host:port`},
		{[]string{"--otlp-endpoint", "http://localhost:4317"}, nil, "not a URL"},
		{[]string{"--otlp-endpoint", ":4317"}, nil, "no host"},
		{[]string{"--otlp-endpoint", "localhost:0"}, nil, `port "0" is not 1-65535`},
		{[]string{"--otlp-endpoint", "localhost:otlp"}, nil, `port "otlp" is not 1-65535`},
		{[]string{"--trace-sample-ratio", "1.5"}, nil, "--trace-sample-ratio 1.5: want a fraction from 0 to 1"},
		{[]string{"--trace-sample-ratio", "-0.1"}, nil, "--trace-sample-ratio -0.1"},
		{[]string{"--trace-sample-ratio", "NaN"}, nil, "--trace-sample-ratio NaN"},
		{nil, map[string]string{"FLOWMESH_TRACE_SAMPLE_RATIO": "half"}, "FLOWMESH_TRACE_SAMPLE_RATIO"},
	} {
		_, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfig(%q, %v) = %v, want an error containing %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestRunUsageExitCode(t *testing.T) {
	getenv := func(string) string { return "" }
	if code := run(t.Context(), []string{"--log-level", "loud"}, getenv, io.Discard); code != 2 {
		t.Errorf("bad flag: exit %d, want 2", code)
	}
	for _, args := range [][]string{{"--otlp-endpoint", "nohost"}, {"--trace-sample-ratio", "2"}} {
		if code := run(t.Context(), args, getenv, io.Discard); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	if code := run(t.Context(), []string{"-h"}, getenv, io.Discard); code != 0 {
		t.Errorf("-h: exit %d, want 0", code)
	}
	// Help lists flags with two dashes, as the CLI's does.
	var help strings.Builder
	if code := run(t.Context(), []string{"--help"}, getenv, &help); code != 0 {
		t.Errorf("--help: exit %d, want 0", code)
	}
	if out := help.String(); !strings.Contains(out, "\n  --grpc-addr string\n") || !strings.Contains(out, `(default ":7400")`) || strings.Contains(out, "\n  -grpc-addr") {
		t.Errorf("--help lists flags as:\n%s", out)
	}
}

func TestParseConfigCluster(t *testing.T) {
	env := map[string]string{"FLOWMESH_LEAVE_ON_TERMINATE": "true", "FLOWMESH_GOSSIP_KEY": "MDEyMzQ1Njc4OWFiY2RlZg=="}
	c, err := parseConfig([]string{"--join", "a:1,b:2", "--join", "c:3", "--advertise", "10.0.0.5"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Join, " "); got != "a:1 b:2 c:3" {
		t.Errorf("join = %q, want %q", got, "a:1 b:2 c:3")
	}
	if c.BootstrapExpect != 0 {
		t.Errorf("bootstrap-expect with --join = %d, want 0 (wait to be added)", c.BootstrapExpect)
	}
	if !c.LeaveOnTerminate || string(c.gossipKey) != "0123456789abcdef" {
		t.Errorf("leave-on-terminate %v, gossip key %q", c.LeaveOnTerminate, c.gossipKey)
	}
	if got, want := c.raftBindAddr(), "0.0.0.0:7401"; got != want {
		t.Errorf("raft bind = %q, want %q", got, want)
	}
	if got, want := c.grpcAdvertise(&net.TCPAddr{IP: net.IPv4zero, Port: 7400}), "10.0.0.5:7400"; got != want {
		t.Errorf("grpc advertise = %q, want %q", got, want)
	}

	c, err = parseConfig([]string{"--join", "a:1", "--bootstrap-expect", "3"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.BootstrapExpect != 3 {
		t.Errorf("explicit bootstrap-expect = %d, want 3", c.BootstrapExpect)
	}
	c, err = parseConfig(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.BootstrapExpect != 1 || c.raftBindAddr() != "127.0.0.1:7401" || c.gossipBindAddr() != "127.0.0.1:7402" {
		t.Errorf("defaults: expect %d raft %q gossip %q", c.BootstrapExpect, c.raftBindAddr(), c.gossipBindAddr())
	}
}

// TestListenDefaultsLoopback: a node started with its defaults listens on
// loopback only; --advertise (reached from elsewhere) or an explicit host
// opens it up.
func TestListenDefaultsLoopback(t *testing.T) {
	for _, tc := range []struct {
		args           []string
		wantGRPC, want string
	}{
		{nil, "127.0.0.1:7400", "127.0.0.1:7403"},
		{[]string{"--advertise", "10.0.0.5"}, "0.0.0.0:7400", "0.0.0.0:7403"},
		{[]string{"--grpc-addr", "0.0.0.0:7500", "--http-addr", "10.1.1.1:7503"}, "0.0.0.0:7500", "10.1.1.1:7503"},
		{[]string{"--grpc-addr", ":7500"}, "127.0.0.1:7500", "127.0.0.1:7403"},
	} {
		c, err := parseConfig(tc.args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.grpcBindAddr(); got != tc.wantGRPC {
			t.Errorf("%q: grpc listens on %q, want %q", tc.args, got, tc.wantGRPC)
		}
		if got := c.httpBindAddr(); got != tc.want {
			t.Errorf("%q: http listens on %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestDefaultQuotaFlags(t *testing.T) {
	env := map[string]string{"FLOWMESH_DEFAULT_QUOTA_RESOURCES": "7"}
	c, err := parseConfig([]string{"--default-quota-kv-keys", "0", "--tenant-rate", "50", "--memory-quota-bytes", "1000"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	q := c.defaultQuota()
	if q.KVKeys == nil || *q.KVKeys != 0 || q.Resources == nil || *q.Resources != 7 || q.StoredBytes != nil || q.Partitions != nil || q.QueueJobs != nil ||
		q.MemoryBytes == nil || *q.MemoryBytes != 1000 {
		t.Fatalf("defaultQuota %+v: want kv_keys 0 (unlimited), resources 7, memory_bytes 1000, the rest unset", q)
	}
	if c, err := parseConfig(nil, func(string) string { return "" }, io.Discard); err != nil || c.defaultQuota().MemoryBytes != nil {
		t.Fatalf("without --memory-quota-bytes: %v, %v; want it unset (the replicated value stays)", err, c)
	}
	if c.TenantRate != 50 || c.TenantBurst != 0 {
		t.Fatalf("rate %g burst %d", c.TenantRate, c.TenantBurst)
	}
	for _, args := range [][]string{{"--default-quota-stored-bytes", "-2"}, {"--tenant-rate", "-1"}, {"--memory-quota-bytes", "-2"}} {
		if _, err := parseConfig(args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) accepted it", args)
		}
	}
}

// TestMaxConnectionsFitsDescriptors: without --max-connections the gRPC
// connection budget is at most a quarter of RLIMIT_NOFILE (segment files
// take half), and an explicit value is kept.
func TestMaxConnectionsFitsDescriptors(t *testing.T) {
	noenv := func(string) string { return "" }
	c, err := parseConfig(nil, noenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := min(rpc.DefaultMaxConnections, max(16, segment.FileLimit()/4)); c.MaxConnections != want {
		t.Errorf("default --max-connections = %d, want %d (RLIMIT_NOFILE %d)", c.MaxConnections, want, segment.FileLimit())
	}
	if c, err = parseConfig([]string{"--max-connections", "9000"}, noenv, io.Discard); err != nil || c.MaxConnections != 9000 {
		t.Errorf("explicit --max-connections 9000 = %d, %v", c.MaxConnections, err)
	}
}

// TestTracingFlags: tracing is off by default, on with --otlp-endpoint
// (flag or FLOWMESH_OTLP_ENDPOINT) or the standard OTLP endpoint variables,
// the flag winning; the sample ratio defaults to 1.
func TestTracingFlags(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		env   map[string]string
		on    bool
		dest  string
		ratio float64
		insec bool
	}{
		{nil, nil, false, "", 1, false},
		{[]string{"--otlp-endpoint", "jaeger:4317", "--otlp-insecure", "--trace-sample-ratio", "0.25"}, nil, true, "jaeger:4317", 0.25, true},
		{nil, map[string]string{"FLOWMESH_OTLP_ENDPOINT": "[::1]:4317", "FLOWMESH_TRACE_SAMPLE_RATIO": "0"}, true, "[::1]:4317", 0, false},
		{nil, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317"}, true, "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4317", 1, false},
		{nil, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c:4317"}, true, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=https://c:4317", 1, false},
		{[]string{"--otlp-endpoint", "a:1"}, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://b:2"}, true, "a:1", 1, false},
	} {
		c, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		if err != nil {
			t.Fatalf("parseConfig(%q, %v): %v", tc.args, tc.env, err)
		}
		on, dest := c.tracingOn()
		if on != tc.on || dest != tc.dest || c.TraceSampleRatio != tc.ratio || c.OTLPInsecure != tc.insec {
			t.Errorf("parseConfig(%q, %v): tracing %v to %q ratio %g insecure %v, want %v to %q ratio %g insecure %v",
				tc.args, tc.env, on, dest, c.TraceSampleRatio, c.OTLPInsecure, tc.on, tc.dest, tc.ratio, tc.insec)
		}
	}
}

// TestStorageConfigFromFlags: the flags land in the nested options of
// storage.Config that own them, and the result validates.
func TestStorageConfigFromFlags(t *testing.T) {
	c, err := parseConfig([]string{
		"--data-dir", t.TempDir(), "--gossip-addr", "127.0.0.1:7502", "--raft-addr", "127.0.0.1:7501",
		"--join", "127.0.0.1:7602,127.0.0.1:7702", "--bootstrap-expect", "3", "--dead-server-cleanup",
		"--raft-log-store", "wal", "--snapshot-threshold", "100", "--segment-max-size", "8192",
		"--raft-max-connections", "20", "--raft-idle-timeout", "2m", "--gossip-max-connections", "9",
		"--gossip-key", "MDEyMzQ1Njc4OWFiY2RlZg==",
	}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	scfg := storageConfig(c, &nodeTLS{}, "127.0.0.1:7500", slog.New(slog.DiscardHandler))
	if err := scfg.Validate(); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	scfg.EnsureDefaults()
	for _, tc := range []struct {
		field     string
		got, want any
	}{
		{"Gossip.BindAddr", scfg.Gossip.BindAddr, "127.0.0.1:7502"},
		{"Gossip.Join", strings.Join(scfg.Gossip.Join, ","), "127.0.0.1:7602,127.0.0.1:7702"},
		{"Gossip.BootstrapExpect", scfg.Gossip.BootstrapExpect, 3},
		{"Gossip.DeadServerCleanup", scfg.Gossip.DeadServerCleanup, true},
		{"Gossip.SecretKey", string(scfg.Gossip.SecretKey), "0123456789abcdef"},
		{"Gossip.MaxStreams", scfg.Gossip.MaxStreams, 9},
		{"Raft.LogStore", scfg.Raft.LogStore, "wal"},
		{"Raft.SnapshotThreshold", scfg.Raft.SnapshotThreshold, uint64(100)},
		{"Raft.TrailingLogs", scfg.Raft.TrailingLogs, uint64(125)},
		{"Raft.RaftLimits.MaxConnections", scfg.Raft.RaftLimits.MaxConnections, 20},
		{"Raft.RaftLimits.IdleTimeout", scfg.Raft.RaftLimits.IdleTimeout, 2 * time.Minute},
		{"Segment.SegmentMaxSize", scfg.Segment.SegmentMaxSize, int64(8192)},
		{"RaftAddr", scfg.RaftAddr, "127.0.0.1:7501"},
		{"GRPCAddr", scfg.GRPCAddr, "127.0.0.1:7500"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.field, tc.got, tc.want)
		}
	}
}
