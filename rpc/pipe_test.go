package rpc_test

import (
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// pipeCall sends one call on a raw pipe stream and returns its response's
// status (OK with the decoded response in out on success).
func pipeCall(t *testing.T, st pb.PipeService_CallClient, id uint64, method string, req, out proto.Message, timeout time.Duration) *status.Status {
	t.Helper()
	payload, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.PipeRequest{Id: id, Method: method, Payload: payload, TimeoutNanos: int64(timeout)}); err != nil {
		t.Fatalf("send %s: %v", method, err)
	}
	return pipeResult(t, st, id, out)
}

func pipeResult(t *testing.T, st pb.PipeService_CallClient, id uint64, out proto.Message) *status.Status {
	t.Helper()
	resp, err := st.Recv()
	if err != nil {
		t.Fatalf("recv call %d: %v", id, err)
	}
	if resp.GetId() != id {
		t.Fatalf("response for call %d, want %d", resp.GetId(), id)
	}
	if len(resp.GetStatus()) > 0 {
		s := &spb.Status{}
		if err := proto.Unmarshal(resp.GetStatus(), s); err != nil {
			t.Fatal(err)
		}
		return status.FromProto(s)
	}
	if out != nil {
		if err := proto.Unmarshal(resp.GetPayload(), out); err != nil {
			t.Fatal(err)
		}
	}
	return status.New(codes.OK, "")
}

// TestPipeCallsTakeTheUnaryChecks drives PipeService directly: a call on
// the pipe is authorized with the pipe's token as its own method, counted
// by the metrics under its own name, decode-checked and validated, and
// refused calls change nothing.
func TestPipeCallsTakeTheUnaryChecks(t *testing.T) {
	n, k, cc := authNode(t)
	ctx := ctxFor(t)
	res := pb.NewResourceServiceClient(cc)
	if _, err := res.CreateKVStore(as(ctx, k.t1Admin), &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	// Without a credential the pipe itself is refused.
	st, err := pb.NewPipeServiceClient(cc).Call(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := proto.Marshal(&pb.GetRequest{Path: "t1/ns/kv", Key: "k"})
	if err := st.Send(&pb.PipeRequest{Id: 1, Method: pb.KVService_Get_FullMethodName, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("pipe without a token: %v, want Unauthenticated", err)
	}

	before := stateHash(t, n)
	st, err = pb.NewPipeServiceClient(cc).Call(as(ctx, k.t1Read))
	if err != nil {
		t.Fatal(err)
	}
	put := &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("v")}
	if s := pipeCall(t, st, 1, pb.KVService_Put_FullMethodName, put, nil, 5*time.Second); s.Code() != codes.PermissionDenied {
		t.Fatalf("Put with a read-only token on the pipe: %v, want PermissionDenied", s.Err())
	}
	if got := n.metrics.count(pb.KVService_Put_FullMethodName, codes.PermissionDenied); got != 1 {
		t.Fatalf("metrics counted %d denied Puts, want 1", got)
	}
	if after := stateHash(t, n); after != before {
		t.Fatal("a refused Put on the pipe changed the state")
	}
	if s := pipeCall(t, st, 2, pb.KVService_Get_FullMethodName, &pb.GetRequest{Path: "t1/ns/kv", Key: "k"}, nil, 0); s.Code() != codes.NotFound {
		t.Fatalf("Get of a missing key on the pipe: %v, want NotFound", s.Err())
	}
	if s := pipeCall(t, st, 3, pb.KVService_Get_FullMethodName, &pb.GetRequest{Path: "t1/ns/kv", Key: ""}, nil, 0); s.Code() != codes.InvalidArgument {
		t.Fatalf("Get with no key on the pipe: %v, want InvalidArgument", s.Err())
	}
	// A payload that is not the method's message.
	if err := st.Send(&pb.PipeRequest{Id: 4, Method: pb.KVService_Get_FullMethodName, Payload: []byte{0xff, 0xff, 0xff}}); err != nil {
		t.Fatal(err)
	}
	if s := pipeResult(t, st, 4, nil); s.Code() != codes.InvalidArgument {
		t.Fatalf("undecodable payload on the pipe: %v, want InvalidArgument", s.Err())
	}
	if s := pipeCall(t, st, 5, "/flowmesh.v1.KVService/Watch", &pb.GetRequest{}, nil, 0); s.Code() != codes.Unimplemented {
		t.Fatalf("a streaming method on the pipe: %v, want Unimplemented", s.Err())
	}

	// The pipe's calls run as the token's subject: an admin's Put works
	// and reads back through the pipe.
	st, err = pb.NewPipeServiceClient(cc).Call(as(ctx, k.t1Admin))
	if err != nil {
		t.Fatal(err)
	}
	if s := pipeCall(t, st, 1, pb.KVService_Put_FullMethodName, put, &pb.PutResponse{}, 5*time.Second); s.Code() != codes.OK {
		t.Fatalf("Put with an admin token on the pipe: %v", s.Err())
	}
	var got pb.GetResponse
	if s := pipeCall(t, st, 2, pb.KVService_Get_FullMethodName, &pb.GetRequest{Path: "t1/ns/kv", Key: "k"}, &got, 0); s.Code() != codes.OK || string(got.GetEntry().GetValue()) != "v" {
		t.Fatalf("Get after Put on the pipe: %v, %q", s.Err(), got.GetEntry().GetValue())
	}
	// Call ids are the client's: a repeat of one in flight, or 0, ends the pipe.
	if err := st.Send(&pb.PipeRequest{Id: 0, Method: pb.KVService_Get_FullMethodName}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("call id 0: %v, want the pipe ended with InvalidArgument", err)
	}
}
