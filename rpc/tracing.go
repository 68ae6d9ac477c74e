package rpc

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracingOptions are the otelgrpc options of the server's and the
// forwarder's stats handlers: spans from tp, W3C trace context and baggage
// as the propagators (not the process-global ones, which are no-ops unless
// a program sets them), and no metrics (the node exports Prometheus
// metrics of its own).
func tracingOptions(tp trace.TracerProvider) []otelgrpc.Option {
	return []otelgrpc.Option{
		otelgrpc.WithTracerProvider(tp),
		otelgrpc.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelgrpc.WithMeterProvider(noop.NewMeterProvider()),
	}
}
