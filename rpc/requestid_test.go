package rpc_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TestResourceRequestIDs: a create or delete repeated with its request ID
// returns the first answer; without one a repeated create is AlreadyExists.
func TestResourceRequestIDs(t *testing.T) {
	n := startNode(t)
	rs := pb.NewResourceServiceClient(dial(t, n.addr))
	ctx := ctxFor(t)
	req := &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv", RequestId: "create-1"}
	first, err := rs.CreateKVStore(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rs.CreateKVStore(ctx, req)
	if err != nil || again.GetResource().GetRevision() != first.GetResource().GetRevision() {
		t.Fatalf("repeated create = %v, %v; want the first answer %v", again, err, first)
	}
	req.RequestId = ""
	if _, err := rs.CreateKVStore(ctx, req); status.Code(err) != codes.AlreadyExists {
		t.Errorf("create without an ID: %v, want AlreadyExists", err)
	}
	del := &pb.DeleteResourceRequest{Path: "t/ns/kv", RequestId: "delete-1"}
	for i := range 2 {
		if _, err := rs.DeleteResource(ctx, del); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	del.RequestId = ""
	if _, err := rs.DeleteResource(ctx, del); status.Code(err) != codes.NotFound {
		t.Errorf("delete without an ID: %v, want NotFound", err)
	}
	long := make([]byte, 129)
	for i := range long {
		long[i] = 'x'
	}
	if _, err := rs.DeleteResource(ctx, &pb.DeleteResourceRequest{Path: "t/ns/kv", RequestId: string(long)}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a 129-byte request ID: %v, want InvalidArgument", err)
	}
}
