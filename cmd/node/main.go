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

	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/internal/buildinfo"
	"github.com/flowmesh/flowmesh/internal/faults"
	"github.com/flowmesh/flowmesh/internal/grpcmetrics"
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

// serve runs the node until ctx ends, a Leave call took it out, or a
// server fails. Its phases start the parts in order (doc.go, "Start-up and
// shutdown") and the shutdown stops them in reverse: the deferred stops of
// storage and tracing run after shutdown stopped gRPC and HTTP.
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
	grpcMetrics := grpcmetrics.New()
	if err := reg.Register(grpcMetrics); err != nil {
		return fmt.Errorf("grpc metrics: %w", err)
	}

	// 1. The storage node.
	scfg := storageConfig(cfg, tlsm, cfg.grpcAdvertise(grpcLis.Addr()), log)
	node, err := startStorage(ctx, scfg)
	if err != nil {
		return err
	}
	defer func() {
		// 4. storage last: in-flight calls have finished or been cancelled.
		err = errors.Join(err, stopStorage(node, cfg, log))
	}()

	// Tracing, when asked for: flushed on the way out, after the gRPC
	// server stopped and before storage stops.
	tp, err := startTracing(ctx, cfg, node, log)
	if err != nil {
		return err
	}
	if tp != nil {
		defer stopTracing(tp, cfg, log)
	}

	// 2. The gRPC server.
	left := make(chan struct{}) // closed when a Leave call took this node out
	var leftOnce sync.Once
	srv := newGRPCServer(cfg, tlsm, grpcMetrics, store, tp, node, scfg.GRPCAddr, func() { leftOnce.Do(func() { close(left) }) }, log)
	grpcDone := make(chan error, 1)
	go func() { grpcDone <- srv.Serve(grpcLis) }()

	// 3. The HTTP admin server.
	hs, httpDone, err := startAdmin(cfg, tlsm, reg, store, node, srv, httpLis, log)
	if err != nil {
		srv.Stop()
		return err
	}
	log.Info("node ready", "grpc_addr", grpcLis.Addr().String(), "http_addr", httpLis.Addr().String(),
		"grpc_tls", tlsm.server != nil, "peer_tls", tlsm.peer != nil)

	err = awaitStop(ctx, left, grpcDone, httpDone, log)
	shutdown(ctx, cfg, node, srv, hs, log)
	return err
}

// storageConfig is the storage node's configuration from the flags;
// grpcAddr is the gRPC address the node advertises.
func storageConfig(cfg *config, tlsm *nodeTLS, grpcAddr string, log *slog.Logger) *storage.Config {
	scfg := storage.DefaultConfig()
	scfg.DataDir = cfg.DataDir
	scfg.NodeID = cfg.ID
	scfg.RaftAddr = cfg.raftBindAddr()
	scfg.GRPCAddr = grpcAddr
	scfg.Gossip.BindAddr = cfg.gossipBindAddr()
	scfg.AdvertiseAddr = cfg.Advertise
	scfg.Gossip.Join = cfg.Join
	scfg.Gossip.BootstrapExpect = cfg.BootstrapExpect
	scfg.Gossip.SecretKey = cfg.gossipKey
	scfg.Gossip.DeadServerCleanup = cfg.DeadServerCleanup
	scfg.DefaultQuota = cfg.defaultQuota()
	scfg.Version = buildinfo.Version()
	scfg.FlushInterval = cfg.FlushInterval
	scfg.Clock = faults.Clock(time.Now) // time.Now unless built with flowmesh_faults
	scfg.Raft.LogStore = cfg.RaftLogStore
	scfg.Raft.SnapshotThreshold = cfg.SnapshotThreshold
	scfg.Segment.SegmentMaxSize = cfg.SegmentMaxSize
	scfg.MaxOpenSegmentFiles = cfg.MaxOpenFiles
	scfg.DiskReserveBytes = cfg.DiskReserveBytes
	scfg.KVHistoryMaxAge = cfg.KVHistoryMaxAge
	if cfg.KVHistoryMaxAge == 0 {
		scfg.KVHistoryMaxAge = -1 // no time bound (storage's 0 is the default)
	}
	scfg.DiskBallastBytes = cfg.DiskBallastBytes
	scfg.Logger = log
	scfg.Raft.PeerServerTLS, scfg.Raft.PeerClientTLS = tlsm.peerConfigs()
	scfg.Raft.RaftLimits.MaxConnections = cfg.RaftMaxConnections
	scfg.Raft.RaftLimits.IdleTimeout = cfg.RaftIdleTimeout
	scfg.Gossip.MaxStreams = cfg.GossipMaxConnections
	return scfg
}

// startStorage opens the storage node and starts it, waiting up to a
// minute (a node that bootstraps alone waits for its leadership).
func startStorage(ctx context.Context, scfg *storage.Config) (*storage.Storage, error) {
	node, err := storage.NewWithConfig(scfg)
	if err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, time.Minute)
	err = node.Start(startCtx)
	cancel()
	if err != nil {
		return nil, err
	}
	return node, nil
}

// stopStorage stops the node, bounded by --shutdown-timeout.
func stopStorage(node *storage.Storage, cfg *config, log *slog.Logger) error {
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	var err error
	if serr := node.Stop(stopCtx); serr != nil {
		err = fmt.Errorf("storage stop: %w", serr)
	}
	log.Info("storage stopped")
	return err
}

// startTracing returns the tracer provider when tracing is asked for (nil
// otherwise), naming this node's raft ID.
func startTracing(ctx context.Context, cfg *config, node *storage.Storage, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	on, dest := cfg.tracingOn()
	if !on {
		return nil, nil
	}
	id := cfg.ID
	if nid := node.ID(); nid != "" {
		id = nid
	}
	tp, err := newTracerProvider(ctx, cfg, id, buildinfo.Version(), log)
	if err != nil {
		return nil, err
	}
	log.Info("tracing on", "otlp_endpoint", dest, "sample_ratio", cfg.TraceSampleRatio)
	return tp, nil
}

// stopTracing flushes the spans not yet exported, bounded by
// --shutdown-timeout.
func stopTracing(tp *sdktrace.TracerProvider, cfg *config, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if terr := tp.Shutdown(sctx); terr != nil {
		log.Warn("tracing shutdown: spans may be lost", "error", terr)
	}
}

// The server takes the node as it is: one method set, no parts.
var _ rpc.Node = (*storage.Storage)(nil)

// newGRPCServer builds the gRPC server over node (not serving yet);
// onLeave runs when a Leave call took this node out.
func newGRPCServer(cfg *config, tlsm *nodeTLS, grpcMetrics *grpcmetrics.Server, store *auth.Store, tp *sdktrace.TracerProvider,
	node *storage.Storage, grpcAddr string, onLeave func(), log *slog.Logger) *rpc.Server {
	rcfg := rpc.Config{
		Logger: log, Metrics: grpcMetrics, OnLeave: onLeave,
		GRPCAddr: grpcAddr, Version: buildinfo.Version(),
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
	srv := rpc.NewServer(rcfg, node)
	if id := node.ID(); id != "" {
		// A follower's Leave asks the leader over gRPC to remove it.
		node.SetRemoveSelf(srv.RemoveSelf(id))
	}
	return srv
}

// startAdmin registers the node's metrics and serves the HTTP admin
// endpoints on lis; httpDone gets the server's end.
func startAdmin(cfg *config, tlsm *nodeTLS, reg *metrics.Registry, store *auth.Store, node *storage.Storage, srv *rpc.Server,
	lis net.Listener, log *slog.Logger) (hs *http.Server, httpDone chan error, err error) {
	if err := reg.Register(node.MetricsCollector(), metrics.NewBudgetCollector(budgetStats(node, srv))); err != nil {
		return nil, nil, err
	}
	hs = &http.Server{
		Handler: adminHandler(node, reg, consoleAccess(store, consoleHandler(node, log)), pprofAccess(cfg, store)), ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: tlsm.serverConfig(),
		ErrorLog:  slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn), // e.g. refused handshakes
	}
	httpDone = make(chan error, 1)
	go func() {
		if hs.TLSConfig != nil {
			httpDone <- hs.ServeTLS(lis, "", "")
		} else {
			httpDone <- hs.Serve(lis)
		}
	}()
	return hs, httpDone, nil
}

// awaitStop waits for a reason to stop: a signal (ctx), a Leave call
// (left), or a server's end (an error).
func awaitStop(ctx context.Context, left <-chan struct{}, grpcDone, httpDone <-chan error, log *slog.Logger) (err error) {
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
	return err
}

// shutdown leaves the cluster first when asked to on SIGTERM, then stops
// gRPC and HTTP admin, each bounded by --shutdown-timeout: the reverse of
// start-up, documented in doc.go (tracing and storage follow, deferred by
// serve).
func shutdown(ctx context.Context, cfg *config, node *storage.Storage, srv *rpc.Server, hs *http.Server, log *slog.Logger) {
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
}
