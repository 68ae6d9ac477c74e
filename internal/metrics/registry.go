package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flowmesh/flowmesh/internal/buildinfo"
)

// Namespace prefixes every FlowMesh metric.
const Namespace = "flowmesh"

// Registry holds a node's collectors: build_info, the Go runtime and
// process collectors, and what the node registers (its NodeCollector, the
// raft sink, the budgets, the gRPC server metrics of package grpcmetrics).
type Registry struct {
	reg *prometheus.Registry
}

// New returns a Registry with build_info and the Go runtime and process
// collectors registered.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(buildInfo(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// buildInfo is flowmesh_build_info: always 1, labelled with the build's
// version, revision and Go version.
func buildInfo() prometheus.Collector {
	bi := buildinfo.Get()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; its labels say which FlowMesh build this node runs.",
		ConstLabels: prometheus.Labels{"version": bi.Version, "revision": bi.Revision, "goversion": bi.GoVersion},
	})
	build.Set(1)
	return build
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
