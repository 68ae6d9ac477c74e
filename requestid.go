package flowmesh

import "context"

type requestIDKey struct{}

// ContextWithRequestID returns ctx carrying an idempotency key for a write
// whose signature takes no CallOptions: ResourceManager's creates and
// DeleteResource. The embedded node deduplicates such a write like one with
// WithRequestID; the gRPC server sets it from the request's request_id.
func ContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFromContext returns the key ContextWithRequestID put in ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
