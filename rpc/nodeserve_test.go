package rpc_test

import (
	"testing"

	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TestServerServesTheNodeItself: the server takes the embedded node as it
// is (one method set, no parts glued together), so every service is served
// by it: status with its raft state, readiness and disk beside the
// address and version of the server's Config, membership, the state hash,
// quotas and transactions.
func TestServerServesTheNodeItself(t *testing.T) {
	n := startNodeWith(t, func(c *rpc.Config) { c.Version = "v-test" })
	ctx := ctxFor(t)
	cl := pb.NewClusterServiceClient(dial(t, n.addr))

	resp, err := cl.Status(ctx, &pb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	st := resp.GetStatus()
	if st.GetNodeId() != n.store.ID() || st.GetLeaderId() != st.GetNodeId() {
		t.Errorf("node %q leader %q, want both %q", st.GetNodeId(), st.GetLeaderId(), n.store.ID())
	}
	if st.GetGrpcAddr() != n.addr || st.GetLeaderGrpcAddr() != n.addr || st.GetVersion() != "v-test" {
		t.Errorf("grpc %q leader grpc %q version %q, want %q, %q and v-test", st.GetGrpcAddr(), st.GetLeaderGrpcAddr(), st.GetVersion(), n.addr, n.addr)
	}
	if st.GetRole() != pb.Role_ROLE_LEADER || !st.GetReady() || st.GetHealth() != "healthy" || st.GetDiskFreeBytes() <= 0 {
		t.Errorf("role %v ready %v health %q disk free %d, want a ready, healthy leader with its disk reported", st.GetRole(), st.GetReady(), st.GetHealth(), st.GetDiskFreeBytes())
	}

	members, err := cl.Members(ctx, &pb.MembersRequest{})
	if err != nil || len(members.GetMembers()) != 1 || members.GetMembers()[0].GetId() != n.store.ID() {
		t.Errorf("Members = %v, %v; want this node alone", members, err)
	}
	if h, err := cl.StateHash(ctx, &pb.StateHashRequest{}); err != nil || h.GetHash() == "" {
		t.Errorf("StateHash = %v, %v; want a hash", h, err)
	}
	if q, err := cl.GetQuota(ctx, &pb.GetQuotaRequest{Tenant: "t"}); err != nil || q == nil {
		t.Errorf("GetQuota = %v, %v", q, err)
	}
	if _, err := pb.NewResourceServiceClient(dial(t, n.addr)).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	txn := &pb.TxnRequest{Then: []*pb.TxnOp{{Op: &pb.TxnOp_Put{Put: &pb.TxnPut{Path: "t/ns/kv", Key: "k", Value: []byte("v")}}}}}
	if r, err := pb.NewTxnServiceClient(dial(t, n.addr)).Txn(ctx, txn); err != nil || !r.GetSucceeded() {
		t.Errorf("Txn = %v, %v; want it to succeed", r, err)
	}
}
