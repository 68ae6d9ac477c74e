package rpc_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// TestTxnAuth: a transaction needs write in every namespace it names, or
// read when it only reads; a grant in another tenant gives nothing.
func TestTxnAuth(t *testing.T) {
	_, k, cc := authNode(t)
	ctx := ctxFor(t)
	res := pb.NewResourceServiceClient(cc)
	for _, ns := range []string{"ns", "orders"} {
		if _, err := res.CreateKVStore(as(ctx, k.t1Admin), &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: ns, Name: "kv"}); err != nil {
			t.Fatal(err)
		}
	}
	txn := pb.NewTxnServiceClient(cc)
	write := pbconv.TxnRequest(flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut("t1/orders/kv", "k", []byte("v"), 0)}})
	both := pbconv.TxnRequest(flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists("t1/ns/kv", "k", false)},
		Then:     []flowmesh.TxnOp{flowmesh.OpPut("t1/orders/kv", "k", []byte("v"), 0)}})
	readOnly := pbconv.TxnRequest(flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpGet("t1/ns/kv", "k"), flowmesh.OpRange("t1/orders/kv", "", "", 0)}})
	for _, c := range []struct {
		name  string
		token string
		req   *pb.TxnRequest
		want  codes.Code
	}{
		{"t1 admin writes", k.t1Admin, both, codes.OK},
		{"t1 reader reads", k.t1Read, readOnly, codes.OK},
		{"t1 reader writes", k.t1Read, write, codes.PermissionDenied},
		{"orders admin in orders", k.t1Orders, write, codes.OK},
		{"orders admin also comparing in ns", k.t1Orders, both, codes.PermissionDenied},
		{"t2 admin in t1", k.t2Admin, readOnly, codes.PermissionDenied},
	} {
		_, err := txn.Txn(as(ctx, c.token), c.req)
		if c.want == codes.OK {
			if err != nil {
				t.Errorf("%s: %v, want success", c.name, err)
			}
			continue
		}
		wantCode(t, c.name, err, c.want, c.token)
	}
}

// TestTxnRefusedOnTheWire sends requests the SDK would refuse: the server
// answers InvalidArgument naming the field, and a failing op's detail names
// it; neither changes the state.
func TestTxnRefusedOnTheWire(t *testing.T) {
	n := startNode(t)
	c := n.newClient(t)
	ctx := ctxFor(t)
	for _, tenant := range []string{"t1", "t2"} {
		if _, err := c.CreateKVStore(ctx, tenant, "ns", "kv"); err != nil {
			t.Fatal(err)
		}
	}
	before := stateHash(t, n)
	txn := pb.NewTxnServiceClient(dial(t, n.addr))
	for _, r := range []struct {
		name, field string
		req         *pb.TxnRequest
	}{
		{"two tenants", "then[1].path", pbconv.TxnRequest(flowmesh.Txn{Then: []flowmesh.TxnOp{
			flowmesh.OpPut("t1/ns/kv", "k", nil, 0), flowmesh.OpPut("t2/ns/kv", "k", nil, 0)}})},
		{"op of no kind", "then[0].type", &pb.TxnRequest{Then: []*pb.TxnOp{{}}}},
		{"unknown target", "compares[0].target", &pb.TxnRequest{Compares: []*pb.TxnCompare{{Target: 42, Path: "t1/ns/kv"}}}},
	} {
		_, err := txn.Txn(ctx, r.req)
		wantCode(t, r.name, err, codes.InvalidArgument)
		if d := detail(err); d == nil || d.GetField() != r.field {
			t.Errorf("%s: detail %v, want field %s", r.name, d, r.field)
		}
	}
	_, err := txn.Txn(ctx, pbconv.TxnRequest(flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpPut("t1/ns/kv", "k", nil, 0), flowmesh.OpDelete("t1/ns/kv", "missing")}}))
	wantCode(t, "delete of a missing key", err, codes.NotFound)
	if d := detail(err); d == nil || d.GetTxnBranch() != "then" || d.GetTxnIndex() != 1 || d.GetTxnOp() != "delete" {
		t.Errorf("failing op: detail %v, want then[1] (delete)", d)
	}
	if got := stateHash(t, n); got != before {
		t.Error("refused transactions changed the state")
	}
	// Through the SDK the detail becomes a *TxnOpError again.
	_, err = c.Txn(ctx, flowmesh.Txn{Else: []flowmesh.TxnOp{flowmesh.OpDelete("t1/ns/kv", "missing")},
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists("t1/ns/kv", "missing", true)}})
	var te *flowmesh.TxnOpError
	if !errors.As(err, &te) || te.Branch != "else" || te.Index != 0 || !errors.Is(err, flowmesh.ErrNotFound) {
		t.Errorf("client error %v (%T), want a TxnOpError for else[0] matching ErrNotFound", err, err)
	}
}

func detail(err error) *pb.ErrorDetail {
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// TestTxnInCluster: transactions sent to followers are forwarded to the
// leader; a repeat of a request ID on another node returns the first
// result; and every replica ends with the same state.
func TestTxnInCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	followers := rpctest.Followers(nodes, leader)
	ctx := ctxFor(t)
	res := pb.NewResourceServiceClient(dial(t, followers[0].Addr))
	if _, err := res.CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	if _, err := res.CreateStream(ctx, &pb.CreateStreamRequest{Tenant: "t", Namespace: "ns", Name: "s", Config: &pb.StreamConfig{Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := res.CreateQueue(ctx, &pb.CreateQueueRequest{Tenant: "t", Namespace: "ns", Name: "q"}); err != nil {
		t.Fatal(err)
	}
	req := pbconv.TxnRequest(flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists("t/ns/kv", "a", false)},
		Then: []flowmesh.TxnOp{flowmesh.OpPut("t/ns/kv", "a", []byte("1"), 0),
			flowmesh.OpAppend("t/ns/s", flowmesh.StreamEvent{Payload: []byte("e")}),
			flowmesh.OpEnqueue("t/ns/q", []byte("j"), flowmesh.QueueEnqueueOptions{})},
	})
	req.Options = &pb.CallOptions{RequestId: "cluster-txn-1"}
	first, err := pb.NewTxnServiceClient(dial(t, followers[0].Addr)).Txn(ctx, req)
	if err != nil || !first.GetSucceeded() {
		t.Fatalf("Txn through a follower: %v, %v", first, err)
	}
	again, err := pb.NewTxnServiceClient(dial(t, followers[1].Addr)).Txn(ctx, req)
	if err != nil || again.GetRevision() != first.GetRevision() || again.GetResults()[2].GetJobId() != first.GetResults()[2].GetJobId() {
		t.Fatalf("repeat on another follower = %v, %v; want the first result %v", again, err, first)
	}
	rpctest.WaitFor(t, 10*time.Second, "replicas converge", func() error {
		want, _ := leader.Store.StateHash()
		for _, n := range nodes {
			if got, _ := n.Store.StateHash(); got != want {
				return fmt.Errorf("%s differs from the leader", n.ID)
			}
		}
		return nil
	})
}
