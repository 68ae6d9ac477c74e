package rpc_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// TestUndecodableRequestsAreInvalid: a request that is not valid protobuf,
// or whose string field is not UTF-8, is InvalidArgument (gRPC's own answer
// is Internal), on unary calls and on streams, and the node serves on.
func TestUndecodableRequestsAreInvalid(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	ctx := ctxFor(t)
	badUTF8Path := []byte{0x0a, 0x03, 't', 0xff, 0xfe} // field 1 (path), 3 bytes, not UTF-8
	// field 1 (path "t/n/k"), field 2 (key): 2 bytes, not UTF-8. Keys are
	// strings on the wire, so this is refused like a bad path.
	badUTF8Key := []byte{0x0a, 0x05, 't', '/', 'n', '/', 'k', 0x12, 0x02, 0xff, 0xfe}
	garbage := []byte{0xff, 0xff, 0xff, 0xff}
	call := grpc.ForceCodec(rawCodec{})
	for _, tc := range []struct {
		name string
		req  []byte
	}{{"invalid UTF-8", badUTF8Path}, {"invalid UTF-8 key", badUTF8Key}, {"malformed protobuf", garbage}} {
		var out []byte
		err := cc.Invoke(ctx, "/flowmesh.v1.KVService/Get", &tc.req, &out, call)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("unary %s: %v, want InvalidArgument", tc.name, err)
		}
		if len(status.Convert(err).Message()) > 400 {
			t.Errorf("unary %s: message of %d bytes", tc.name, len(status.Convert(err).Message()))
		}
		cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, "/flowmesh.v1.KVService/Watch", call)
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.SendMsg(&tc.req); err != nil {
			t.Fatal(err)
		}
		cs.CloseSend()
		err = cs.RecvMsg(&out)
		if status.Code(err) != codes.InvalidArgument || errors.Is(err, io.EOF) {
			t.Errorf("stream %s: %v, want InvalidArgument", tc.name, err)
		}
	}
	// The node serves well-formed calls afterwards.
	if _, err := n.newClient(t).CreateKVStore(ctx, "t", "ns", "kv"); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Errorf("a valid call after the bad ones: %v", err)
	}
}

// TestLongInputBoundedInErrors: a 1 MiB path is refused with a message that
// quotes a bounded prefix of it, not the whole path.
func TestLongInputBoundedInErrors(t *testing.T) {
	n := startNode(t)
	cc := dial(t, n.addr)
	path := strings.Repeat("p", 1<<20)
	_, err := pb.NewResourceServiceClient(cc).GetResource(ctxFor(t), &pb.GetResourceRequest{Path: path})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("GetResource of a 1 MiB path: %v, want InvalidArgument", err)
	}
	size := len(st.Message())
	for _, d := range st.Proto().GetDetails() {
		size += len(d.GetValue())
	}
	if size > 4<<10 {
		t.Errorf("status of %d bytes (message and details) for a 1 MiB path", size)
	}
}

// TestJoinBadAddressInvalid: Join of an address that cannot be one is
// InvalidArgument (it was Internal, from the resolver).
func TestJoinBadAddressInvalid(t *testing.T) {
	n := startNode(t)
	cc := pb.NewClusterServiceClient(dial(t, n.addr))
	for _, addr := range []string{"256.1.1.1:99999", "127.0.0.1", ""} {
		_, err := cc.Join(ctxFor(t), &pb.JoinRequest{Addrs: []string{addr}})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("Join(%q): %v, want InvalidArgument", addr, err)
		}
	}
}
