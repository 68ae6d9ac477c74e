package rpc

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/grpcwire"
	"github.com/flowmesh/flowmesh/nodeadmin"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// Role is a node's Raft role.
type Role string

const (
	RoleFollower  Role = "follower"
	RoleCandidate Role = "candidate"
	RoleLeader    Role = "leader"
	RoleShutdown  Role = "shutdown"
)

// NodeStatus is a node's view of itself and of the leader.
type NodeStatus struct {
	NodeID         string
	Role           Role
	Term           uint64
	CommitIndex    uint64
	AppliedIndex   uint64
	LeaderID       string // "" when no leader is known
	LeaderGRPCAddr string
	GRPCAddr       string // this node's advertised gRPC address
	Version        string

	LastLogIndex      uint64
	LastSnapshotIndex uint64
	ClusterID         string // "" while unknown

	// DiskFreeBytes and DiskReserveBytes: the data dir's filesystem
	// against the node's reserve. Alarms are the raised alarms
	// ("NOSPACE: ..."), empty when none.
	DiskFreeBytes    int64
	DiskReserveBytes int64
	Alarms           []string

	// Readiness is whether the node is ready and why not, as its /readyz
	// decides (zero: not reported).
	Readiness nodeadmin.Readiness
}

// Metrics observes every RPC through interceptors that run outside the
// server's own, so they see the status code the caller gets (after panic
// recovery, forwarding and error translation). The node wires it to the
// standard grpc_server_* Prometheus metrics (internal/grpcmetrics).
// The interceptors must be safe for concurrent use.
type Metrics interface {
	UnaryServerInterceptor() grpc.UnaryServerInterceptor
	StreamServerInterceptor() grpc.StreamServerInterceptor
}

// DefaultMaxRecvMsgSize admits a WriteEvents batch of MaxBatchBytes with room
// for the protobuf framing of MaxBatchEvents events and their headers.
const DefaultMaxRecvMsgSize = flowmesh.MaxBatchBytes + 1<<20

// DefaultMaxResponseBytes bounds ReadFromOffset, List and ListDead responses;
// they return fewer items rather than exceed it (at least one item).
const DefaultMaxResponseBytes = 8 << 20

// DefaultStreamWorkers is how many goroutines serve calls (see
// grpc.NumStreamWorkers; pass grpc.NumStreamWorkers in
// Config.ServerOptions to change it, 0 for a goroutine per call).
const DefaultStreamWorkers = 256

// Connection budgets (Config): a node serves at most DefaultMaxConnections
// client connections, each with at most DefaultMaxConcurrentStreams calls
// at once; a connection must finish its TLS and HTTP/2 handshake within
// DefaultHandshakeTimeout, and one without calls for DefaultMaxConnectionIdle
// is closed (GOAWAY: a client reconnects when it next calls).
const (
	DefaultMaxConnections       = 4096
	DefaultMaxConcurrentStreams = 1024
	DefaultHandshakeTimeout     = 10 * time.Second
	DefaultMaxConnectionIdle    = 15 * time.Minute
)

// Config configures a Server. The zero value is usable: zero fields take the
// defaults of DefaultConfig.
type Config struct {
	Logger  *slog.Logger // nil: slog.Default()
	Metrics Metrics      // nil: no metrics

	// GRPCAddr (this node's advertised gRPC address) and Version describe
	// the node in ClusterService's Status.
	GRPCAddr string
	Version  string

	// MaxRecvMsgSize is the largest request accepted (0: DefaultMaxRecvMsgSize).
	// It must admit a MaxBatchBytes batch.
	MaxRecvMsgSize int
	// MaxResponseBytes bounds list and read responses (0: DefaultMaxResponseBytes).
	MaxResponseBytes int

	// MaxConnections, MaxConcurrentStreams, HandshakeTimeout and
	// MaxConnectionIdle are the connection budgets (0: the Default values).
	MaxConnections       int
	MaxConcurrentStreams int
	HandshakeTimeout     time.Duration
	MaxConnectionIdle    time.Duration

	// ServerOptions are added to the server's own (credentials, keepalive).
	// Interceptors given here run inside the server's, on unary calls made
	// as such but not on calls carried by the pipe (see DisablePipe).
	ServerOptions []grpc.ServerOption

	// DisablePipe turns PipeService off: clients then make every call as a
	// unary call (the SDK falls back by itself). With TracerProvider set
	// the pipe is off too, so that every call keeps its own server span.
	DisablePipe bool

	// DisableForwarding makes a follower answer NotLeader instead of
	// forwarding writes and leader reads to the leader.
	DisableForwarding bool
	// OnLeave is called after a Leave RPC took this node out of the
	// cluster; the node's main stops the process.
	OnLeave func()

	// ForwardDialOptions are added to the options of the connections to the
	// leader (insecure by default): pass credentials for TLS, with the
	// node's peer certificate so the leader knows a node forwards.
	ForwardDialOptions []grpc.DialOption

	// TracerProvider turns OpenTelemetry tracing on (nil: off, no stats
	// handler at all): a server span per call (otelgrpc), W3C trace
	// context taken from the caller, a client span per call forwarded to
	// the leader carrying the trace on, and the leader's raft.apply spans
	// (package cluster) under its server span. cmd/node builds it from
	// --otlp-endpoint.
	TracerProvider trace.TracerProvider

	// Auth turns authentication and authorization on (nil: open, every
	// caller may do everything). See auth.go and doc.go.
	Auth Authenticator
	// PeerCAs returns the CA pool of the nodes' peer certificates (called
	// per check, so it follows reloads). A call whose client certificate
	// chains to it is a node's: trusted to assert MetadataSubject, and a
	// node itself (cluster-admin) when it asserts none. nil: no caller is
	// a node.
	PeerCAs func() *x509.CertPool

	// TenantRate limits the unary calls per second a tenant may make to
	// this node (token bucket; 0: no limit), with bursts of TenantBurst
	// (0: the rate rounded up). A refused call is ResourceExhausted with a
	// retry hint (flowmesh.RateLimitError). Streams are not limited.
	TenantRate  float64
	TenantBurst int

	// MaxSubscribers and MaxWatchers cap the Subscribe and Watch streams
	// open at this node, MaxTenantSubscribers and MaxTenantWatchers those
	// of one tenant (0: the Default values; see streamlimit.go).
	MaxSubscribers       int
	MaxTenantSubscribers int
	MaxWatchers          int
	MaxTenantWatchers    int
	// SlowConsumerTimeout ends a Subscribe or Watch whose client took
	// nothing the node had ready for it for this long (0:
	// DefaultSlowConsumerTimeout; see slowconsumer.go).
	SlowConsumerTimeout time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Logger:           slog.Default(),
		MaxRecvMsgSize:   DefaultMaxRecvMsgSize,
		MaxResponseBytes: DefaultMaxResponseBytes,

		MaxConnections:       DefaultMaxConnections,
		MaxConcurrentStreams: DefaultMaxConcurrentStreams,
		HandshakeTimeout:     DefaultHandshakeTimeout,
		MaxConnectionIdle:    DefaultMaxConnectionIdle,

		MaxSubscribers:       DefaultMaxSubscribers,
		MaxTenantSubscribers: DefaultMaxTenantSubscribers,
		MaxWatchers:          DefaultMaxWatchers,
		MaxTenantWatchers:    DefaultMaxTenantWatchers,
		SlowConsumerTimeout:  DefaultSlowConsumerTimeout,
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRecvMsgSize != 0 && c.MaxRecvMsgSize < flowmesh.MaxBatchBytes+flowmesh.MaxPayloadSize/4 {
		errs = append(errs, flowmesh.Invalid("MaxRecvMsgSize", "%d does not admit a batch of MaxBatchBytes (%d) with framing", c.MaxRecvMsgSize, flowmesh.MaxBatchBytes))
	}
	if c.MaxResponseBytes < 0 {
		errs = append(errs, flowmesh.Invalid("MaxResponseBytes", "%d is negative", c.MaxResponseBytes))
	}
	if c.MaxConnections < 0 || c.MaxConcurrentStreams < 0 || c.HandshakeTimeout < 0 || c.MaxConnectionIdle < 0 {
		errs = append(errs, flowmesh.Invalid("connection budgets", "MaxConnections %d, MaxConcurrentStreams %d, HandshakeTimeout %v and MaxConnectionIdle %v must not be negative",
			c.MaxConnections, c.MaxConcurrentStreams, c.HandshakeTimeout, c.MaxConnectionIdle))
	}
	if c.MaxSubscribers < 0 || c.MaxTenantSubscribers < 0 || c.MaxWatchers < 0 || c.MaxTenantWatchers < 0 || c.SlowConsumerTimeout < 0 {
		errs = append(errs, flowmesh.Invalid("stream caps", "MaxSubscribers %d, MaxTenantSubscribers %d, MaxWatchers %d, MaxTenantWatchers %d and SlowConsumerTimeout %v must not be negative",
			c.MaxSubscribers, c.MaxTenantSubscribers, c.MaxWatchers, c.MaxTenantWatchers, c.SlowConsumerTimeout))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	if c.MaxRecvMsgSize == 0 {
		c.MaxRecvMsgSize = d.MaxRecvMsgSize
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = d.MaxResponseBytes
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = d.MaxConnections
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.MaxConnectionIdle == 0 {
		c.MaxConnectionIdle = d.MaxConnectionIdle
	}
	for _, f := range []struct {
		v *int
		d int
	}{{&c.MaxSubscribers, d.MaxSubscribers}, {&c.MaxTenantSubscribers, d.MaxTenantSubscribers},
		{&c.MaxWatchers, d.MaxWatchers}, {&c.MaxTenantWatchers, d.MaxTenantWatchers}} {
		if *f.v == 0 {
			*f.v = f.d
		}
	}
	if c.SlowConsumerTimeout == 0 {
		c.SlowConsumerTimeout = d.SlowConsumerTimeout
	}
	c.ServerOptions = append([]grpc.ServerOption(nil), c.ServerOptions...)
	c.ForwardDialOptions = append([]grpc.DialOption(nil), c.ForwardDialOptions...)
	return c
}

// Server serves the flowmesh.v1 services, grpc.health.v1 and server
// reflection on one *grpc.Server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	node   Node
	grpc   *grpc.Server
	health *health.Server
	fwd    *forwarder

	// stopping ends with GracefulStop or Stop; server streams (Subscribe,
	// Watch) end with it, so their clients move to another node.
	stopping    context.Context
	stopStreams context.CancelFunc
	stopOnce    sync.Once

	conns atomic.Pointer[connLimiter] // set by Serve
	rate  *rateLimiter                // nil: no tenant rate limit

	subscribers, watchers *streamCap
	senders               sync.WaitGroup // streamSender goroutines
}

// NewServer builds a server for node. It panics when cfg is invalid or
// node is nil: both are wiring mistakes of main.
func NewServer(cfg Config, node Node) *Server {
	if node == nil {
		panic("rpc: NewServer with a nil Node")
	}
	if err := cfg.Validate(); err != nil {
		panic("rpc: " + err.Error())
	}
	cfg = cfg.withDefaults()
	fwdOpts := cfg.ForwardDialOptions
	if cfg.TracerProvider != nil {
		fwdOpts = append(fwdOpts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(tracingOptions(cfg.TracerProvider)...)))
	}
	s := &Server{cfg: cfg, log: cfg.Logger, node: node, health: health.NewServer(), fwd: newForwarder(fwdOpts),
		rate:        newRateLimiter(cfg.TenantRate, cfg.TenantBurst, nil),
		subscribers: newStreamCap("Subscribe", cfg.MaxSubscribers, cfg.MaxTenantSubscribers),
		watchers:    newStreamCap("Watch", cfg.MaxWatchers, cfg.MaxTenantWatchers)}
	s.stopping, s.stopStreams = context.WithCancel(context.Background())
	codec := newRequestCodec()
	unary, stream := s.interceptors(codec)
	opts := append([]grpc.ServerOption{
		grpc.ForceServerCodecV2(codec),
		grpc.MaxRecvMsgSize(cfg.MaxRecvMsgSize),
		// Pings find dead peers under idle Subscribe and Watch streams;
		// clients ping every 30s (package client), which this admits.
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: time.Minute, Timeout: 20 * time.Second, MaxConnectionIdle: cfg.MaxConnectionIdle}),
		grpc.ConnectionTimeout(cfg.HandshakeTimeout),
		grpc.MaxConcurrentStreams(uint32(cfg.MaxConcurrentStreams)),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		// Calls run on long-lived workers while one is idle, instead of
		// on a fresh goroutine each, whose stack would grow (copied) to
		// the depth of a call every time. Handlers mostly wait (for a
		// raft commit), so there are enough workers for every call of
		// a busy node to find one; beyond them gRPC starts a goroutine.
		grpc.NumStreamWorkers(DefaultStreamWorkers),
	}, append(grpcwire.ServerOptions(), grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...))...)
	opts = append(opts, cfg.ServerOptions...)
	if cfg.TracerProvider != nil {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(tracingOptions(cfg.TracerProvider)...)))
	}
	s.grpc = grpc.NewServer(opts...)

	services := map[*grpc.ServiceDesc]any{
		&pb.ResourceService_ServiceDesc: &resourceService{s: s},
		&pb.StreamService_ServiceDesc:   &streamService{s: s},
		&pb.QueueService_ServiceDesc:    &queueService{s: s},
		&pb.KVService_ServiceDesc:       &kvService{s: s},
		&pb.TxnService_ServiceDesc:      &txnService{s: s},
		&pb.ClusterService_ServiceDesc:  &clusterService{s: s},
	}
	for sd, impl := range services {
		s.grpc.RegisterService(sd, impl)
	}
	if !cfg.DisablePipe && cfg.TracerProvider == nil {
		pb.RegisterPipeServiceServer(s.grpc, newPipeService(s, codec, chainUnary(unary), services))
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	s.SetServing(true)
	return s
}

// interceptors returns the server's unary and stream interceptor chains,
// outermost first: Metrics' (when set), then the server's, then the codec's
// check of decoded requests. Calls on the pipe take the same unary chain
// (pipe.go).
func (s *Server) interceptors(codec *requestCodec) (unary []grpc.UnaryServerInterceptor, stream []grpc.StreamServerInterceptor) {
	unary = []grpc.UnaryServerInterceptor{s.unaryInterceptor, codec.checkDecodedUnary}
	stream = []grpc.StreamServerInterceptor{s.streamInterceptor, codec.checkDecodedStream}
	if m := s.cfg.Metrics; m != nil {
		unary = append([]grpc.UnaryServerInterceptor{m.UnaryServerInterceptor()}, unary...)
		stream = append([]grpc.StreamServerInterceptor{m.StreamServerInterceptor()}, stream...)
	}
	return unary, stream
}

// GRPCServer returns the underlying server, for registering more services
// (cluster-internal ones) before Serve.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// SetServing sets the grpc.health.v1 status of the server ("") and of every
// flowmesh.v1 service: SERVING or NOT_SERVING.
func (s *Server) SetServing(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	for name := range s.grpc.GetServiceInfo() {
		if name != healthpb.Health_ServiceDesc.ServiceName {
			s.health.SetServingStatus(name, st)
		}
	}
}

// Serve accepts connections on lis until GracefulStop or Stop, at most
// Config.MaxConnections at once (see ConnStats).
func (s *Server) Serve(lis net.Listener) error {
	l := &connLimiter{Listener: lis, max: int64(s.cfg.MaxConnections)}
	s.conns.Store(l)
	return s.grpc.Serve(l)
}

// ConnStats reports the connection budget's use: connections open now,
// the budget, and how many were refused over it since Serve.
func (s *Server) ConnStats() (open, max int, refused uint64) {
	l := s.conns.Load()
	if l == nil {
		return 0, s.cfg.MaxConnections, 0
	}
	return int(l.open.Load()), int(l.max), l.refused.Load()
}

// GracefulStop reports NOT_SERVING, ends the Subscribe and Watch streams
// (with Unavailable, so clients resume elsewhere), stops accepting, and waits
// for in-flight unary calls to finish. A long-poll Reserve may hold it for
// up to flowmesh.MaxReservePoll: use Shutdown to bound the wait.
func (s *Server) GracefulStop() {
	s.beginStop()
	s.grpc.GracefulStop()
	s.senders.Wait() // their transports are closed
	s.fwd.close()
}

// Stop closes every connection and cancels in-flight calls.
func (s *Server) Stop() {
	s.beginStop()
	s.grpc.Stop()
	s.senders.Wait() // their transports are closed
	s.fwd.close()
}

// Shutdown stops gracefully until ctx ends, then stops hard. It returns
// ctx.Err() when it had to stop hard.
func (s *Server) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.GracefulStop()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.Stop()
		<-done
		return ctx.Err()
	}
}

func (s *Server) beginStop() {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		s.stopStreams()
	})
}
