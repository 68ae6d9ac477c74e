package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/flowmesh/flowmesh/internal/buildinfo"
	"github.com/flowmesh/flowmesh/internal/faults"
	"github.com/flowmesh/flowmesh/internal/metrics"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// defaultGCPercent is the node's GC target (GOGC) unless the GOGC
// environment variable sets one. A node allocates per request (gRPC,
// protobuf, raft, bolt) while its live heap is small, so the default of 100
// spends a large share of the CPU on collections; a higher target trades a
// heap that peaks at ~(1+GCPercent/100) x the live heap for fewer of them
// (BENCHMARKS.md, "group commit and GC"). Nodes with a large live heap set
// GOGC=100 or a GOMEMLIMIT.
const defaultGCPercent = 200

// setGCDefault applies defaultGCPercent unless getenv("GOGC") is set (the
// runtime has then applied that value).
func setGCDefault(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}

func main() {
	if isVersion(os.Args[1:]) {
		fmt.Println("flowmesh-node", buildinfo.Get())
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "token" {
		os.Exit(runToken(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "convert-log-store" {
		os.Exit(runConvertLogStore(os.Args[2:], os.Stdout, os.Stderr))
	}
	setGCDefault(os.Getenv)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancelCause(context.Background())
	go func() { cancel(signalError{<-sigs}) }()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// isVersion reports whether args ask for the version: "version",
// "--version" or "-version" alone.
func isVersion(args []string) bool {
	return len(args) == 1 && (args[0] == "version" || args[0] == "--version" || args[0] == "-version")
}

// signalError is the cause of the run context's end when a signal arrived.
type signalError struct{ sig os.Signal }

func (e signalError) Error() string { return "signal " + e.sig.String() }

// terminated reports whether ctx ended because of SIGTERM.
func terminated(ctx context.Context) bool {
	var se signalError
	return errors.As(context.Cause(ctx), &se) && se.sig == syscall.SIGTERM
}

// run starts the node and serves until ctx ends (a signal), then shuts down
// in the order written in doc.go. It returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "certs" {
		return certsCmd(args[1:], stderr)
	}
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowmesh-node: %v\n", err)
		return 2
	}
	// Certificates that do not parse or match their keys are usage errors
	// too, found before anything starts.
	tlsm, err := loadTLS(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "flowmesh-node: %v\n", err)
		return 2
	}
	log := cfg.logger(stderr)
	if err := serve(ctx, cfg, tlsm, log); err != nil {
		log.Error("node failed", "error", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg *config, tlsm *nodeTLS, log *slog.Logger) (err error) {
	log.Info("starting flowmesh node", "version", buildinfo.Get().String(), "data_dir", cfg.DataDir,
		"grpc_addr", cfg.grpcBindAddr(), "raft_addr", cfg.raftBindAddr(), "gossip_addr", cfg.gossipBindAddr(),
		"http_addr", cfg.httpBindAddr(), "bootstrap_expect", cfg.BootstrapExpect, "join", []string(cfg.Join))

	if tlsm.server == nil {
		log.Warn("gRPC and HTTP admin serve plaintext: set --tls-dir (from 'flowmesh-node certs init') or --cert-file")
	}
	if tlsm.peer == nil {
		log.Warn("raft runs over plain TCP: any host that reaches --raft-addr can inject entries; set --tls-dir or the --peer-* flags")
	}

	// Listeners first, so a taken port fails before any state is touched.
	grpcLis, err := net.Listen("tcp", cfg.grpcBindAddr())
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	defer grpcLis.Close()
	httpLis, err := net.Listen("tcp", cfg.httpBindAddr())
	if err != nil {
		return fmt.Errorf("http listener: %w", err)
	}
	defer httpLis.Close()

	store, err := openAuth(cfg, log)
	if err != nil {
		return err
	}
	stopReload := reloadOnSIGHUP(log, reloadable(store, tlsm)...)
	defer stopReload()

	reg := metrics.New()
	if err := metrics.InstallRaftSink(reg); err != nil {
		return fmt.Errorf("raft metrics: %w", err)
	}

	// 1. The storage node.
	scfg := storage.DefaultConfig()
	scfg.DataDir = cfg.DataDir
	scfg.NodeID = cfg.ID
	scfg.RaftAddr = cfg.raftBindAddr()
	scfg.GRPCAddr = cfg.grpcAdvertise(grpcLis.Addr())
	scfg.GossipAddr = cfg.gossipBindAddr()
	scfg.AdvertiseAddr = cfg.Advertise
	scfg.Join = cfg.Join
	scfg.BootstrapExpect = cfg.BootstrapExpect
	scfg.GossipKey = cfg.gossipKey
	scfg.DeadServerCleanup = cfg.DeadServerCleanup
	scfg.DefaultQuota = cfg.defaultQuota()
	scfg.Version = buildinfo.Version()
	scfg.FlushInterval = cfg.FlushInterval
	scfg.Clock = faults.Clock(time.Now) // time.Now unless built with flowmesh_faults
	scfg.RaftLogStore = cfg.RaftLogStore
	scfg.SnapshotThreshold = cfg.SnapshotThreshold
	scfg.SegmentMaxSize = cfg.SegmentMaxSize
	scfg.MaxOpenSegmentFiles = cfg.MaxOpenFiles
	scfg.DiskReserveBytes = cfg.DiskReserveBytes
	scfg.KVHistoryMaxAge = cfg.KVHistoryMaxAge
	if cfg.KVHistoryMaxAge == 0 {
		scfg.KVHistoryMaxAge = -1 // no time bound (storage's 0 is the default)
	}
	scfg.DiskBallastBytes = cfg.DiskBallastBytes
	scfg.Logger = log
	scfg.PeerServerTLS, scfg.PeerClientTLS = tlsm.peerConfigs()
	scfg.RaftLimits.MaxConnections = cfg.RaftMaxConnections
	scfg.RaftLimits.IdleTimeout = cfg.RaftIdleTimeout
	scfg.GossipMaxStreams = cfg.GossipMaxConnections
	node, err := storage.NewWithConfig(scfg)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = node.Start(startCtx)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		// 4. storage last: in-flight calls have finished or been cancelled.
		stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if serr := node.Stop(stopCtx); serr != nil {
			err = errors.Join(err, fmt.Errorf("storage stop: %w", serr))
		}
		log.Info("storage stopped")
	}()

	// Tracing, when asked for: flushed on the way out, after the gRPC
	// server stopped and before storage stops.
	var tp *sdktrace.TracerProvider
	if on, dest := cfg.tracingOn(); on {
		id := cfg.ID
		if c := node.Cluster(); c != nil {
			id = c.ID()
		}
		if tp, err = newTracerProvider(ctx, cfg, id, buildinfo.Version(), log); err != nil {
			return err
		}
		log.Info("tracing on", "otlp_endpoint", dest, "sample_ratio", cfg.TraceSampleRatio)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			if terr := tp.Shutdown(sctx); terr != nil {
				log.Warn("tracing shutdown: spans may be lost", "error", terr)
			}
		}()
	}

	// 2. The gRPC server.
	grpcAddr := scfg.GRPCAddr
	left := make(chan struct{}) // closed when a Leave call took this node out
	var leftOnce sync.Once
	rcfg := rpc.Config{
		Logger: log, Metrics: reg, OnLeave: func() { leftOnce.Do(func() { close(left) }) },
		TenantRate: cfg.TenantRate, TenantBurst: cfg.TenantBurst,
		ServerOptions:      tlsm.grpcServerOptions(),
		ForwardDialOptions: tlsm.forwardDialOptions(),
		PeerCAs:            tlsm.peerCAs,
		MaxConnections:     cfg.MaxConnections,

		MaxSubscribers:       cfg.MaxSubscribers,
		MaxTenantSubscribers: cfg.MaxTenantSubscribers,
		MaxWatchers:          cfg.MaxWatchers,
		MaxTenantWatchers:    cfg.MaxTenantWatchers,
		SlowConsumerTimeout:  cfg.SlowConsumerTimeout,
	}
	if tp != nil {
		rcfg.TracerProvider = tp
	}
	if store != nil {
		rcfg.Auth = store
	}
	srv := rpc.NewServer(rcfg, rpc.Parts{
		ResourceManager: storage.NewResourceFactory(node.MetaStore()),
		StreamManager:   node.StreamManager(),
		QueueManager:    node.QueueManager(),
		KVManager:       node.KVManager(),
		StatusFunc:      rpc.ClusterStatus(node, grpcAddr, buildinfo.Version()),
		Cluster:         node,
		Quotas:          node,
	})
	if c := node.Cluster(); c != nil {
		// A follower's Leave asks the leader over gRPC to remove it.
		node.SetRemoveSelf(srv.RemoveSelf(c.ID()))
	}
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- srv.Serve(grpcLis) }()

	// 3. The HTTP admin server.
	if err := reg.Register(metrics.NewNodeCollector(nodeStats(node), 5*time.Second), metrics.NewBudgetCollector(budgetStats(node, srv))); err != nil {
		srv.Stop()
		return err
	}
	hs := &http.Server{
		Handler: adminHandler(node, reg, consoleAccess(store, consoleHandler(node, log)), pprofAccess(cfg, store)), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: tlsm.serverConfig(),
		ErrorLog:  slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn), // e.g. refused handshakes
	}
	httpDone := make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			httpDone <- hs.ServeTLS(httpLis, "", "")
		} else {
			httpDone <- hs.Serve(httpLis)
		}
	}()
	log.Info("node ready", "grpc_addr", grpcLis.Addr().String(), "http_addr", httpLis.Addr().String(),
		"grpc_tls", tlsm.server != nil, "peer_tls", tlsm.peer != nil)

	select {
	case <-ctx.Done():
		log.Info("shutting down: signal received")
	case <-left:
		log.Info("shutting down: left the cluster on request")
	case err = <-grpcDone:
		err = fmt.Errorf("grpc server: %w", err)
		log.Error("shutting down", "error", err)
	case err = <-httpDone:
		err = fmt.Errorf("http server: %w", err)
		log.Error("shutting down", "error", err)
	}

	if cfg.LeaveOnTerminate && terminated(ctx) {
		// Leave while gRPC still serves: the leader may need to reach us.
		lctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		if lerr := node.Leave(lctx); lerr != nil {
			log.Error("leaving the cluster failed; shutting down anyway", "error", lerr)
		} else {
			log.Info("left the cluster")
		}
		cancel()
	}

	// Shutdown: the reverse of start-up, documented in doc.go.
	gctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	if srv.Shutdown(gctx) != nil {
		log.Warn("grpc graceful stop timed out; remaining calls were cancelled", "timeout", cfg.ShutdownTimeout)
	} else {
		log.Info("grpc server stopped gracefully")
	}
	cancel()
	hctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if herr := hs.Shutdown(hctx); herr != nil {
		log.Warn("http admin shutdown", "error", herr)
		hs.Close()
	}
	log.Info("http admin server stopped")
	return err
}
