package cluster_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// openWarning is what a node without authentication logs at start.
const openWarning = "authentication is off"

// statusCode calls ClusterService.Status on addr with creds and returns the
// call's gRPC code.
func statusCode(t *testing.T, addr string, creds credentials.TransportCredentials) codes.Code {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pb.NewClusterServiceClient(cc).Status(ctx, &pb.StatusRequest{})
	return status.Code(err)
}

// TestClusterIsSecure: the harness's clusters run the secure setup, so the
// other tests here run on it: the harness's clients get in with the
// cluster's CA and admin certificate, while plaintext gRPC, TLS without a
// credential and plain HTTP to /readyz do not, and no node says it is open.
func TestClusterIsSecure(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c := StartClusterWith(t, ClusterOptions{Nodes: 1})
	nd := c.Nodes[0]
	if _, err := nd.Status(5 * time.Second); err != nil {
		t.Fatalf("status with the harness's credentials: %v", err)
	}
	if out, err := c.CLI("cluster", "status"); err != nil {
		t.Fatalf("CLI cluster status with the harness's credentials: %v\n%s", err, out)
	}
	if code := statusCode(t, nd.GRPCAddr, insecure.NewCredentials()); code != codes.Unavailable {
		t.Errorf("plaintext Status: %v, want Unavailable (no TLS, no connection)", code)
	}
	anon := credentials.NewTLS(&tls.Config{RootCAs: c.TLS().RootCAs, MinVersion: tls.VersionTLS12})
	if code := statusCode(t, nd.GRPCAddr, anon); code != codes.Unauthenticated {
		t.Errorf("Status over TLS without a credential: %v, want Unauthenticated", code)
	}
	hc := http.Client{Timeout: 5 * time.Second}
	if resp, err := hc.Get("http://" + nd.HTTPAddr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP /readyz answered 200")
		}
	}
	if nd.LogContains(openWarning) {
		t.Errorf("%s logged %q", nd.ID, openWarning)
	}
}

// TestPlaintextCluster: ClusterOptions.Plaintext still starts an open
// cluster, for tests of that mode, and the harness's clients reach it.
func TestPlaintextCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c := StartClusterWith(t, ClusterOptions{Nodes: 1, Plaintext: true})
	nd := c.Nodes[0]
	if c.TLS() != nil || c.TLSDir != "" {
		t.Fatalf("plaintext cluster has TLS (dir %q)", c.TLSDir)
	}
	if _, err := nd.Status(5 * time.Second); err != nil {
		t.Fatalf("status: %v", err)
	}
	if out, err := c.CLI("cluster", "status"); err != nil {
		t.Fatalf("CLI cluster status: %v\n%s", err, out)
	}
	if !nd.LogContains(openWarning) {
		t.Errorf("%s did not log %q", nd.ID, openWarning)
	}
}
