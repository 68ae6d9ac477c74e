package grpcmetrics

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestServerCountsCodes(t *testing.T) {
	s := New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(s)
	unary := s.UnaryServerInterceptor()
	put := &grpc.UnaryServerInfo{FullMethod: "/flowmesh.v1.KVService/Put"}
	for _, err := range []error{nil, status.Error(codes.NotFound, "no such kv")} {
		_, got := unary(context.Background(), nil, put, func(context.Context, any) (any, error) { return nil, err })
		if got != err {
			t.Fatalf("interceptor returned %v, want the handler's %v", got, err)
		}
	}
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`grpc_server_started_total{grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 2`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 1`,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_count{grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 2`,
		`grpc_server_handling_seconds_bucket{grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary",le="5e-05"}`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
