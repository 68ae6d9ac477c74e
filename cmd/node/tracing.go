package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// serviceName is the OpenTelemetry service.name of every node's spans.
const serviceName = "flowmesh-node"

// otlpEnvEndpoints are the standard variables the OTLP exporter reads when
// --otlp-endpoint is empty; either one turns tracing on.
var otlpEnvEndpoints = []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"}

// tracingOn reports whether c (or the standard OTLP environment) asks for
// tracing, and where the spans go, for the log.
func (c *config) tracingOn() (bool, string) {
	if c.OTLPEndpoint != "" {
		return true, c.OTLPEndpoint
	}
	if c.otlpEnv != "" {
		return true, c.otlpEnv
	}
	return false, ""
}

// validateTracing checks --otlp-endpoint and --trace-sample-ratio.
func (c *config) validateTracing() []error {
	var errs []error
	if e := c.OTLPEndpoint; e != "" {
		host, port, err := net.SplitHostPort(e)
		switch {
		case strings.Contains(e, "://"):
			errs = append(errs, fmt.Errorf("--otlp-endpoint %q: want host:port (the collector's OTLP/gRPC port, e.g. localhost:4317), not a URL", e))
		case err != nil:
			errs = append(errs, fmt.Errorf("--otlp-endpoint %q: want host:port: %v", e, err))
		case host == "":
			errs = append(errs, fmt.Errorf("--otlp-endpoint %q: no host", e))
		default:
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				errs = append(errs, fmt.Errorf("--otlp-endpoint %q: port %q is not 1-65535", e, port))
			}
		}
	}
	if r := c.TraceSampleRatio; math.IsNaN(r) || r < 0 || r > 1 {
		errs = append(errs, fmt.Errorf("--trace-sample-ratio %g: want a fraction from 0 to 1", r))
	}
	return errs
}

// newTracerProvider builds the provider of the node's spans: a batch of
// spans at a time over OTLP/gRPC to the collector, service.name
// flowmesh-node, the node ID as service.instance.id and flowmesh.node.id,
// and parent-based sampling (a call whose caller sampled it, or did not,
// is traced likewise; a call starting a trace is sampled at
// --trace-sample-ratio). Export errors go to log as warnings. The caller
// shuts it down, which flushes the spans not yet sent.
func newTracerProvider(ctx context.Context, c *config, nodeID, version string, log *slog.Logger) (*sdktrace.TracerProvider, error) {
	var opts []otlptracegrpc.Option
	if c.OTLPEndpoint != "" {
		opts = append(opts, otlptracegrpc.WithEndpoint(c.OTLPEndpoint))
		if c.OTLPInsecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
	}
	// Without --otlp-endpoint the exporter reads OTEL_EXPORTER_OTLP_*
	// itself (an http:// endpoint is plaintext, https:// TLS).
	exp, err := otlptracegrpc.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithAttributes(
		attribute.String("service.name", serviceName),
		attribute.String("service.version", version),
		attribute.String("service.instance.id", nodeID),
		attribute.String("flowmesh.node.id", nodeID),
	))
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "error", err)
	}))
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.TraceSampleRatio))),
	), nil
}
