package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh/internal/buildinfo"
)

// Namespace prefixes every FlowMesh metric.
const Namespace = "flowmesh"

// Registry holds a node's collectors. It implements rpc.Metrics with the
// standard gRPC server metrics as go-grpc-middleware's Prometheus provider
// defines them (grpc.go): grpc_server_started_total,
// grpc_server_handled_total (by grpc_code), grpc_server_msg_received_total,
// grpc_server_msg_sent_total and the grpc_server_handling_seconds
// histogram, all labelled grpc_type, grpc_service and grpc_method.
type Registry struct {
	reg  *prometheus.Registry
	grpc *grpcMetrics
}

// New returns a Registry with the gRPC server metrics, build_info and the Go
// runtime and process collectors registered.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		// 50µs .. ~26s: a local KV put takes well under a millisecond,
		// a long-poll Reserve up to its wait.
		grpc: newGRPCMetrics(prometheus.ExponentialBuckets(50e-6, 2, 20)),
	}
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; its labels say which FlowMesh build this node runs.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	build.Set(1)
	r.reg.MustRegister(r.grpc, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// UnaryServerInterceptor counts and times unary calls; it implements
// rpc.Metrics (the server runs it outside its own interceptor, so it sees
// the status code the caller gets).
func (r *Registry) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return r.grpc.unaryInterceptor
}

// StreamServerInterceptor counts and times streaming calls and their
// messages; it implements rpc.Metrics.
func (r *Registry) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return r.grpc.streamInterceptor
}

// Register adds collectors (a NodeCollector, a raft sink) to the registry.
func (r *Registry) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := r.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Gatherer returns the underlying registry, for tests and custom exporters.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{Registry: r.reg})
}
