package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/flowmesh/flowmesh/internal/buildinfo"
)

// Namespace prefixes every FlowMesh metric.
const Namespace = "flowmesh"

// Registry holds a node's collectors. It implements rpc.Metrics.
type Registry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a Registry with the RPC metrics and the Go runtime and process
// collectors registered.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "grpc", Name: "requests_total",
			Help: "gRPC calls handled, by full method name and status code.",
		}, []string{"method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "grpc", Name: "request_duration_seconds",
			Help: "gRPC call latency by full method name (streams: until the stream ends).",
			// 50µs .. ~26s: a local KV put takes well under a millisecond,
			// a long-poll Reserve up to its wait.
			Buckets: prometheus.ExponentialBuckets(50e-6, 2, 20),
		}, []string{"method"}),
	}
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; its labels say which FlowMesh build this node runs.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	build.Set(1)
	r.reg.MustRegister(r.requests, r.latency, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// ObserveRPC records one call; it implements rpc.Metrics.
func (r *Registry) ObserveRPC(method string, code codes.Code, d time.Duration) {
	r.requests.WithLabelValues(method, code.String()).Inc()
	r.latency.WithLabelValues(method).Observe(d.Seconds())
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
