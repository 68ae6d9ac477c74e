package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/segment"
)

// config is the node's settings, filled from flags, environment and file.
type config struct {
	ID                string
	DataDir           string
	GRPCAddr          string
	RaftAddr          string
	GossipAddr        string
	HTTPAddr          string
	LogFormat         string
	LogLevel          string
	FlushInterval     time.Duration
	RaftLogStore      string
	SnapshotThreshold uint64
	SegmentMaxSize    int64
	MaxOpenFiles      int
	DiskReserveBytes  int64
	KVHistoryMaxAge   time.Duration
	DiskBallastBytes  int64
	ShutdownTimeout   time.Duration
	Join              listFlag
	BootstrapExpect   int
	Advertise         string
	AdvertiseGRPC     string
	GossipKey         string // base64
	GossipKeyFile     string
	CertFile          string
	KeyFile           string
	TrustedCAFile     string
	PeerCertFile      string
	PeerKeyFile       string
	PeerTrustedCAFile string
	TLSDir            string
	LeaveOnTerminate  bool
	DeadServerCleanup bool
	ConfigFile        string
	AuthFile          string
	EnablePprof       bool
	// DefaultQuota* are the cluster default quota's fields this node
	// proposes when it leads (-1: leave the field as it is; 0: unlimited).
	DefaultQuotaStoredBytes int64
	DefaultQuotaResources   int64
	DefaultQuotaPartitions  int64
	DefaultQuotaKVKeys      int64
	DefaultQuotaQueueJobs   int64
	// MemoryQuotaBytes is the cluster-wide memory quota this node proposes
	// when it leads (-1: leave it as it is; 0: unlimited).
	MemoryQuotaBytes int64
	TenantRate       float64
	TenantBurst      int

	MaxConnections       int           // gRPC
	RaftMaxConnections   int           // inbound raft connections
	RaftIdleTimeout      time.Duration // between raft requests
	GossipMaxConnections int           // inbound gossip streams

	MaxSubscribers       int // Subscribe streams open at this node
	MaxTenantSubscribers int // ... of one tenant
	MaxWatchers          int // Watch streams open at this node
	MaxTenantWatchers    int // ... of one tenant
	SlowConsumerTimeout  time.Duration

	OTLPEndpoint     string  // tracing: collector host:port (empty: off)
	OTLPInsecure     bool    // plaintext gRPC to the collector
	TraceSampleRatio float64 // of the traces a call starts here

	gossipKey []byte // GossipKey decoded
	otlpEnv   string // the standard OTEL_EXPORTER_OTLP_*ENDPOINT, if set
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// errHelp is returned by parseConfig for -h/--help: exit 0.
var errHelp = flag.ErrHelp

// envPrefix prefixes the environment variable of every flag.
const envPrefix = "FLOWMESH_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseConfig reads args, then the environment (getenv) and the config
// file for the flags args did not set. Usage and errors go to stderr.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("flowmesh-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.ID, "id", "", "stable node ID (default: generated once and kept in the data dir)")
	fs.StringVar(&c.DataDir, "data-dir", "./data", "data directory")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":7400", "gRPC listen address (no host: all interfaces with --advertise, else 127.0.0.1; 0.0.0.0 for all)")
	fs.StringVar(&c.RaftAddr, "raft-addr", ":7401", "raft transport address (no host: all interfaces with --advertise, else 127.0.0.1)")
	fs.StringVar(&c.GossipAddr, "gossip-addr", ":7402", "memberlist (gossip) address, TCP and UDP (no host: as --raft-addr)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":7403", "HTTP admin address (/healthz, /readyz, /metrics, /debug/pprof; no host: as --grpc-addr)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.FlushInterval, "flush-interval", 5*time.Second, "how often the stores are fsynced and checkpointed (the raft log is fsynced on every commit)")
	fs.StringVar(&c.RaftLogStore, "raft-log-store", "", "raft log store: wal (raft-wal: one fsync per commit) or boltdb (two); a data dir keeps the store it was created with (default: the one the data dir holds, wal for a new one; convert-log-store converts a stopped node's dir)")
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", cluster.DefaultOptions().SnapshotThreshold, "raft log entries after which a snapshot is taken and the log compacted")
	fs.Int64Var(&c.SegmentMaxSize, "segment-max-size", segment.DefaultSegmentMaxSize, "roll segment files at this many bytes")
	fs.IntVar(&c.MaxOpenFiles, "max-open-segment-files", 0, "segment files kept open at once, least recently used closed first (0: half of RLIMIT_NOFILE); streams, partitions and other resources are not bounded by it")
	fs.Int64Var(&c.DiskReserveBytes, "disk-reserve-bytes", 0, "free bytes kept on the data dir's filesystem: below them the node raises its disk alarm and the cluster refuses writes that grow the data (0: the smaller of 512 MiB and 5% of the filesystem; -1: no reserve)")
	fs.DurationVar(&c.KVHistoryMaxAge, "kv-history-max-age", flowmesh.DefaultKVHistoryMaxAge, "how long a KV store keeps a change in its Watch history (besides 10000 revisions and 64 MiB): older changes, a deleted key's values among them, are dropped by every node, and a Watch from before them is Compacted (0: no time bound; only the leader's value matters)")
	fs.Int64Var(&c.DiskBallastBytes, "disk-ballast-bytes", 0, "size of the disk ballast, two files of half of it (DATA_DIR/disk-ballast, released when the disk is nearly full so that committed writes can be applied, and DATA_DIR/disk-ballast-start, released by a start on a full disk so that the node can start read-only) (0: a quarter of the reserve, at most 64 MiB; -1: none)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "bound on each shutdown phase after SIGINT/SIGTERM: in-flight gRPC calls, the HTTP server, and storage (raft and the FSM)")
	fs.Var(&c.Join, "join", "gossip address (host:port) of a member to join; repeatable or comma-separated; retried in the background")
	fs.IntVar(&c.BootstrapExpect, "bootstrap-expect", 1, "fresh servers that form the cluster together (1: bootstrap alone; 0: never bootstrap, wait to be added; default 0 when --join is given)")
	fs.StringVar(&c.Advertise, "advertise", "", "host (or host:port for gossip) other nodes reach this one at, for NAT and containers")
	fs.StringVar(&c.AdvertiseGRPC, "advertise-grpc", "", "gRPC address clients are sent to (default: the --grpc-addr host, else the --advertise host, else 127.0.0.1, with the gRPC port)")
	fs.StringVar(&c.GossipKey, "gossip-key", "", "base64 key (16, 24 or 32 bytes) encrypting gossip; every member needs the same. Prefer --gossip-key-file or FLOWMESH_GOSSIP_KEY: a flag shows in /proc/PID/cmdline")
	fs.StringVar(&c.GossipKeyFile, "gossip-key-file", "", "file holding the base64 gossip key (required with peer TLS)")
	fs.StringVar(&c.CertFile, "cert-file", "", "PEM certificate of the gRPC and HTTP admin server (TLS on when set)")
	fs.StringVar(&c.KeyFile, "key-file", "", "PEM key of --cert-file")
	fs.StringVar(&c.TrustedCAFile, "trusted-ca-file", "", "PEM CA that client certificates (optional) and other nodes' server certificates are verified against; required with --cert-file")
	fs.StringVar(&c.PeerCertFile, "peer-cert-file", "", "PEM certificate this node presents to other nodes (raft mTLS, forwarded calls)")
	fs.StringVar(&c.PeerKeyFile, "peer-key-file", "", "PEM key of --peer-cert-file")
	fs.StringVar(&c.PeerTrustedCAFile, "peer-trusted-ca-file", "", "PEM peer CA other nodes' certificates must chain to")
	fs.StringVar(&c.TLSDir, "tls-dir", "", "directory written by 'flowmesh-node certs init': sets every TLS file flag, --gossip-key-file and, when DIR/auth exists, --auth-file to its files (explicit flags win)")
	fs.BoolVar(&c.LeaveOnTerminate, "leave-on-terminate", false, "on SIGTERM leave the cluster (raft configuration, then gossip) before shutting down")
	fs.BoolVar(&c.DeadServerCleanup, "dead-server-cleanup", false, "let the leader remove dead servers from the raft configuration (never below a quorum)")
	fs.StringVar(&c.ConfigFile, "config", "", "config file of \"key = value\" lines, keys being flag names")
	fs.StringVar(&c.AuthFile, "auth-file", "", "token file (internal/auth: \"SUBJECT sha256:HASH|cert GRANTS\" lines) turning authentication on; re-read on SIGHUP; without it any client may do anything")
	fs.BoolVar(&c.EnablePprof, "enable-pprof", false, "serve /debug/pprof on the HTTP admin port (with --auth-file: only for a cluster-admin bearer token; /debug/pprof/cmdline is never served)")
	for _, q := range []struct {
		v    *int64
		name string
		what string
	}{
		{&c.DefaultQuotaStoredBytes, "stored-bytes", "bytes stored (stream events, queue job payloads, KV keys and values)"},
		{&c.DefaultQuotaResources, "resources", "streams, queues and KV stores"},
		{&c.DefaultQuotaPartitions, "partitions", "stream partitions"},
		{&c.DefaultQuotaKVKeys, "kv-keys", "KV keys"},
		{&c.DefaultQuotaQueueJobs, "queue-jobs", "queue jobs (waiting, delayed, in flight, dead)"},
	} {
		fs.Int64Var(q.v, "default-quota-"+q.name, -1, "cluster default quota of "+q.what+" per tenant, proposed by this node when it becomes leader (0: unlimited; -1: leave the replicated default as it is). Give every node the same value; 'flowmesh quota set \"*\"' changes it at run time")
	}
	fs.Int64Var(&c.MemoryQuotaBytes, "memory-quota-bytes", -1, fmt.Sprintf("cluster-wide limit on the memory-resident state of all tenants together (KV keys and values, queue job payloads, and a fixed charge per item), proposed by this node when it becomes leader (0: unlimited; -1: leave the replicated value as it is, %d bytes unless set). Give every node the same value; 'flowmesh quota set \"*\" --memory-bytes' changes it at run time", flowmesh.DefaultMemoryQuota))
	fs.Float64Var(&c.TenantRate, "tenant-rate", 0, "requests per second a tenant may make to this node (token bucket, not replicated; 0: unlimited)")
	fs.IntVar(&c.TenantBurst, "tenant-burst", 0, "burst of --tenant-rate (0: the rate rounded up)")
	fs.IntVar(&c.MaxConnections, "max-connections", rpc.DefaultMaxConnections, "gRPC connections open at once; more are closed at accept (default: 4096, or a quarter of RLIMIT_NOFILE if that is less; see README, Limits)")
	fs.IntVar(&c.RaftMaxConnections, "raft-max-connections", cluster.DefaultRaftLimits().MaxConnections, "inbound raft connections open at once, TLS handshakes included; more are closed at accept")
	fs.DurationVar(&c.RaftIdleTimeout, "raft-idle-timeout", cluster.DefaultRaftLimits().IdleTimeout, "close an inbound raft connection idle this long between requests (at least 1m)")
	fs.IntVar(&c.GossipMaxConnections, "gossip-max-connections", cluster.DefaultGossipMaxStreams, "inbound gossip (memberlist TCP) streams open at once; more are closed at accept")
	fs.IntVar(&c.MaxSubscribers, "max-subscribers", rpc.DefaultMaxSubscribers, "Subscribe streams open at this node at once; more are ResourceExhausted")
	fs.IntVar(&c.MaxTenantSubscribers, "max-tenant-subscribers", rpc.DefaultMaxTenantSubscribers, "Subscribe streams of one tenant open at this node at once")
	fs.IntVar(&c.MaxWatchers, "max-watchers", rpc.DefaultMaxWatchers, "Watch streams open at this node at once; more are ResourceExhausted")
	fs.IntVar(&c.MaxTenantWatchers, "max-tenant-watchers", rpc.DefaultMaxTenantWatchers, "Watch streams of one tenant open at this node at once")
	fs.DurationVar(&c.SlowConsumerTimeout, "slow-consumer-timeout", rpc.DefaultSlowConsumerTimeout, "end a Subscribe or Watch whose client takes nothing of what the node has ready for it this long (ResourceExhausted with the position to resume from)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry tracing: host:port of an OTLP/gRPC collector (e.g. Jaeger's localhost:4317) the node sends its spans to (empty: off, unless the standard OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set)")
	fs.BoolVar(&c.OTLPInsecure, "otlp-insecure", false, "send spans to --otlp-endpoint in plaintext instead of TLS (system roots)")
	fs.Float64Var(&c.TraceSampleRatio, "trace-sample-ratio", 1, "fraction (0 to 1) of the traces a call starts at this node that are sampled; a call forwarded or sent with a trace context follows its caller's decision")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: flowmesh-node [flags]\n       flowmesh-node certs init DIR [--hosts h1,h2]\n       flowmesh-node convert-log-store --data-dir DIR --to wal|boltdb\n\nRuns a FlowMesh node. Every flag also reads %s<FLAG> (e.g. FLOWMESH_GRPC_ADDR)\nand the --config file; flags win over the environment, which wins over the file.\n\nFlags:\n", envPrefix)
		printFlags(stderr, fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["config"] {
		if v := getenv(envName("config")); v != "" {
			c.ConfigFile = v
		}
	}
	var file map[string]string
	if c.ConfigFile != "" {
		var err error
		if file, err = readConfigFile(c.ConfigFile); err != nil {
			return nil, err
		}
		for k := range file {
			if fs.Lookup(k) == nil || k == "config" {
				return nil, fmt.Errorf("config file %s: unknown key %q", c.ConfigFile, k)
			}
		}
	}
	var errs []error
	explicit := map[string]bool{} // set by flag, environment or file
	fs.VisitAll(func(f *flag.Flag) {
		_, inFile := file[f.Name]
		explicit[f.Name] = set[f.Name] || inFile || getenv(envName(f.Name)) != ""
	})
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || f.Name == "config" {
			return
		}
		src, v := envName(f.Name), getenv(envName(f.Name))
		if v == "" {
			var ok bool
			if v, ok = file[f.Name]; !ok {
				return
			}
			src = c.ConfigFile + ": " + f.Name
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: invalid value %q: %v", src, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c.applyTLSDir(explicit)
	for _, k := range otlpEnvEndpoints {
		if v := getenv(k); v != "" && c.otlpEnv == "" {
			c.otlpEnv = k + "=" + v
		}
	}
	if !explicit["max-connections"] {
		// Sockets share the descriptor budget with the segment file cache
		// (half of RLIMIT_NOFILE): gRPC takes at most a quarter of it.
		c.MaxConnections = min(c.MaxConnections, max(16, segment.FileLimit()/4))
	}
	if len(c.Join) > 0 && !explicit["bootstrap-expect"] {
		// A joining node waits to be added rather than forming a cluster of its own.
		c.BootstrapExpect = 0
	}
	return c, c.validate()
}

// readConfigFile parses "key = value" lines.
func readConfigFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("config file %s:%d: want \"key = value\", got %q", path, n, line)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
	}
	return out, sc.Err()
}

// validate reports every problem with c.
func (c *config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	for name, v := range map[string]int64{"stored-bytes": c.DefaultQuotaStoredBytes, "resources": c.DefaultQuotaResources,
		"partitions": c.DefaultQuotaPartitions, "kv-keys": c.DefaultQuotaKVKeys, "queue-jobs": c.DefaultQuotaQueueJobs} {
		if v < -1 {
			errs = append(errs, fmt.Errorf("--default-quota-%s %d: want -1 (unset), 0 (unlimited) or a limit", name, v))
		}
	}
	if c.MemoryQuotaBytes < -1 {
		errs = append(errs, fmt.Errorf("--memory-quota-bytes %d: want -1 (unset), 0 (unlimited) or a limit", c.MemoryQuotaBytes))
	}
	if c.TenantRate < 0 || c.TenantBurst < 0 {
		errs = append(errs, fmt.Errorf("--tenant-rate %g and --tenant-burst %d must not be negative", c.TenantRate, c.TenantBurst))
	}
	for _, a := range []struct{ name, addr string }{
		{"--grpc-addr", c.GRPCAddr}, {"--raft-addr", c.RaftAddr},
		{"--gossip-addr", c.GossipAddr}, {"--http-addr", c.HTTPAddr},
	} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", a.name, a.addr, err))
		}
	}
	errs = append(errs, c.validateTracing()...)
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format %q: want text or json", c.LogFormat))
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.RaftLogStore != "" && c.RaftLogStore != "boltdb" && c.RaftLogStore != "wal" {
		errs = append(errs, fmt.Errorf("--raft-log-store %q must be wal or boltdb", c.RaftLogStore))
	}
	if c.SnapshotThreshold < 16 {
		errs = append(errs, fmt.Errorf("--snapshot-threshold %d must be at least 16", c.SnapshotThreshold))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("--flush-interval %v must be positive", c.FlushInterval))
	}
	if c.SegmentMaxSize < 4<<10 {
		errs = append(errs, fmt.Errorf("--segment-max-size %d is below 4096", c.SegmentMaxSize))
	}
	if c.DiskReserveBytes < -1 {
		errs = append(errs, fmt.Errorf("--disk-reserve-bytes %d must be -1 (no reserve), 0 (the default) or positive", c.DiskReserveBytes))
	}
	if c.KVHistoryMaxAge < 0 {
		errs = append(errs, fmt.Errorf("--kv-history-max-age %v must be 0 (no time bound) or positive", c.KVHistoryMaxAge))
	}
	if c.DiskBallastBytes < -1 {
		errs = append(errs, fmt.Errorf("--disk-ballast-bytes %d must be -1 (no ballast), 0 (the default) or positive", c.DiskBallastBytes))
	}
	if c.MaxOpenFiles < 0 {
		errs = append(errs, fmt.Errorf("--max-open-segment-files %d must not be negative", c.MaxOpenFiles))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %v must be positive", c.ShutdownTimeout))
	}
	for _, j := range c.Join {
		if _, _, err := net.SplitHostPort(j); err != nil {
			errs = append(errs, fmt.Errorf("--join %q: %v", j, err))
		}
	}
	for _, l := range []struct {
		name   string
		v, min int
	}{{"--max-connections", c.MaxConnections, 1}, {"--raft-max-connections", c.RaftMaxConnections, 8}, {"--gossip-max-connections", c.GossipMaxConnections, 4},
		{"--max-subscribers", c.MaxSubscribers, 1}, {"--max-tenant-subscribers", c.MaxTenantSubscribers, 1},
		{"--max-watchers", c.MaxWatchers, 1}, {"--max-tenant-watchers", c.MaxTenantWatchers, 1}} {
		if l.v < l.min {
			errs = append(errs, fmt.Errorf("%s %d must be at least %d", l.name, l.v, l.min))
		}
	}
	if c.SlowConsumerTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--slow-consumer-timeout %v is below 100ms", c.SlowConsumerTimeout))
	}
	if c.RaftIdleTimeout < time.Minute {
		errs = append(errs, fmt.Errorf("--raft-idle-timeout %v is below 1m: raft reuses pooled connections idle that long", c.RaftIdleTimeout))
	}
	if c.BootstrapExpect < 0 {
		errs = append(errs, fmt.Errorf("--bootstrap-expect %d is negative", c.BootstrapExpect))
	}
	if c.AdvertiseGRPC != "" {
		if _, _, err := net.SplitHostPort(c.AdvertiseGRPC); err != nil {
			errs = append(errs, fmt.Errorf("--advertise-grpc %q: %v", c.AdvertiseGRPC, err))
		}
	}
	errs = append(errs, c.validateTLS()...)
	keySrc, key := "--gossip-key", c.GossipKey
	switch {
	case c.GossipKeyFile != "" && c.GossipKey != "":
		errs = append(errs, errors.New("--gossip-key and --gossip-key-file: give one"))
	case c.GossipKeyFile != "":
		keySrc = "--gossip-key-file " + c.GossipKeyFile
		if b, err := os.ReadFile(c.GossipKeyFile); err != nil {
			errs = append(errs, fmt.Errorf("--gossip-key-file: %v", err))
		} else if key = strings.TrimSpace(string(b)); key == "" {
			errs = append(errs, fmt.Errorf("%s: empty", keySrc))
		}
	}
	if key != "" {
		k, err := base64.StdEncoding.DecodeString(key)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: not base64: %v", keySrc, err))
		case len(k) != 16 && len(k) != 24 && len(k) != 32:
			errs = append(errs, fmt.Errorf("%s: %d bytes, want 16, 24 or 32", keySrc, len(k)))
		default:
			c.gossipKey = k
		}
	}
	return errors.Join(errs...)
}

// logger builds the slog logger c asks for.
func (c *config) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// grpcBindAddr is the gRPC listen address; see listenAddr.
func (c *config) grpcBindAddr() string { return c.listenAddr(c.GRPCAddr) }

// httpBindAddr is the HTTP admin listen address; see listenAddr.
func (c *config) httpBindAddr() string { return c.listenAddr(c.HTTPAddr) }

// listenAddr binds a host-less client-facing address to all interfaces
// when --advertise says the node is reached from elsewhere, and to loopback
// otherwise, so a node started with its defaults is reachable from this
// machine only. An explicit host (0.0.0.0 included) is used as given.
func (c *config) listenAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host != "" {
		return addr
	}
	if c.Advertise != "" {
		return net.JoinHostPort("0.0.0.0", port)
	}
	return net.JoinHostPort("127.0.0.1", port)
}

// raftBindAddr is the raft bind address; see bindAddr.
func (c *config) raftBindAddr() string { return c.bindAddr(c.RaftAddr) }

// gossipBindAddr is the memberlist bind address; see bindAddr.
func (c *config) gossipBindAddr() string { return c.bindAddr(c.GossipAddr) }

// bindAddr binds a host-less (or wildcard) address to all interfaces when
// --advertise names the host others dial, and to loopback otherwise: a
// wildcard address cannot be advertised.
func (c *config) bindAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		if c.Advertise != "" {
			return net.JoinHostPort("0.0.0.0", port)
		}
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// advertiseHost is the host of --advertise.
func (c *config) advertiseHost() string {
	if h, _, err := net.SplitHostPort(c.Advertise); err == nil {
		return h
	}
	return c.Advertise
}

// grpcAdvertise is the gRPC address gossiped to the cluster and put in
// NotLeader errors; bound is the listener's address.
func (c *config) grpcAdvertise(bound net.Addr) string {
	if c.AdvertiseGRPC != "" {
		return c.AdvertiseGRPC
	}
	host, port, err := net.SplitHostPort(bound.String())
	if err != nil {
		return bound.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
		if c.Advertise != "" {
			host = c.advertiseHost()
		}
	}
	return net.JoinHostPort(host, port)
}

// defaultQuota is the default quota's fields given on the command line.
func (c *config) defaultQuota() flowmesh.QuotaLimits {
	f := func(v int64) *int64 {
		if v < 0 {
			return nil
		}
		return &v
	}
	return flowmesh.QuotaLimits{StoredBytes: f(c.DefaultQuotaStoredBytes), Resources: f(c.DefaultQuotaResources),
		Partitions: f(c.DefaultQuotaPartitions), KVKeys: f(c.DefaultQuotaKVKeys), QueueJobs: f(c.DefaultQuotaQueueJobs),
		MemoryBytes: f(c.MemoryQuotaBytes)}
}
