package rpc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// followerBackend scripts a follower: every call it serves answers err,
// a *flowmesh.NotLeaderError naming the leader; stale reads are local.
type followerBackend struct {
	rpc.Node // nil: calls this fake does not script panic (answered Internal)
	err      error
	calls    int
}

func (b *followerBackend) CreateKVStore(context.Context, string, string, string, ...flowmesh.KVOption) (*flowmesh.Resource, error) {
	b.calls++
	return nil, b.err
}

func (b *followerBackend) Put(context.Context, string, string, []byte, flowmesh.KVPutOptions, ...flowmesh.CallOption) (uint64, error) {
	b.calls++
	return 0, b.err
}

func (b *followerBackend) Get(_ context.Context, _, key string, opts ...flowmesh.CallOption) (flowmesh.KVEntry, error) {
	b.calls++
	if flowmesh.ApplyCallOptions(opts).Consistency == flowmesh.Stale {
		return flowmesh.KVEntry{Key: key, Value: []byte("local"), Revision: 1}, nil
	}
	return flowmesh.KVEntry{}, b.err
}

// startFollower serves b on loopback and returns its address.
func startFollower(t *testing.T, b rpc.Node, cfg rpc.Config) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = quietLogger()
	srv := rpc.NewServer(cfg, b)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func notLeaderDetail(t *testing.T, err error) *pb.ErrorDetail {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return ed
		}
	}
	t.Fatalf("no ErrorDetail in %v", err)
	return nil
}

// TestForwardToLeader: a follower forwards writes and linearizable reads to
// the leader and returns its answers; direct and forwarded calls get the
// NotLeader detail; stale reads stay local.
func TestForwardToLeader(t *testing.T) {
	leader := startNode(t)
	fb := &followerBackend{err: &flowmesh.NotLeaderError{LeaderID: "leader", LeaderAddr: leader.addr}}
	follower := dial(t, startFollower(t, fb, rpc.Config{}))
	ctx := ctxFor(t)
	rs := pb.NewResourceServiceClient(follower)
	kv := pb.NewKVServiceClient(follower)

	if _, err := rs.CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatalf("CreateKVStore through the follower: %v", err)
	}
	var hdr metadata.MD
	put, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Value: []byte("v")}, grpc.Header(&hdr))
	if err != nil {
		t.Fatalf("Put through the follower: %v", err)
	}
	if got := hdr.Get(rpc.MetadataLeader); len(got) != 1 || got[0] != leader.addr {
		t.Errorf("header %s = %v, want [%s]", rpc.MetadataLeader, got, leader.addr)
	}
	got, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k"})
	if err != nil || string(got.GetEntry().GetValue()) != "v" || got.GetEntry().GetRevision() != put.GetRevision() {
		t.Fatalf("linearizable Get through the follower = %v, %v; want v at revision %d", got, err, put.GetRevision())
	}
	// The leader's errors come back unchanged.
	_, err = rs.CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("repeated create: got %v, want AlreadyExists from the leader", err)
	}
	// Stale reads are served locally.
	got, err = kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k", Options: &pb.CallOptions{Consistency: pb.Consistency_CONSISTENCY_STALE}})
	if err != nil || string(got.GetEntry().GetValue()) != "local" {
		t.Errorf("stale Get = %v, %v; want the follower's local answer", got, err)
	}

	for _, key := range []string{rpc.MetadataDirect, rpc.MetadataForwarded} {
		mctx := metadata.AppendToOutgoingContext(ctx, key, "1")
		_, err := kv.Put(mctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Value: []byte("x")})
		d := notLeaderDetail(t, err)
		if d.GetCode() != pb.ErrorCode_ERROR_CODE_NOT_LEADER || d.GetLeaderAddr() != leader.addr || d.GetLeaderId() != "leader" {
			t.Errorf("with %s: detail %v, want NOT_LEADER at %s", key, d, leader.addr)
		}
	}
}

// TestForwardNoLeader: with no leader known the follower answers
// Unavailable with the detail, and a disabled forwarder never forwards.
func TestForwardNoLeader(t *testing.T) {
	ctx := ctxFor(t)
	fb := &followerBackend{err: &flowmesh.NotLeaderError{}}
	kv := pb.NewKVServiceClient(dial(t, startFollower(t, fb, rpc.Config{})))
	_, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k"})
	if d := notLeaderDetail(t, err); d.GetLeaderAddr() != "" {
		t.Errorf("detail %v names a leader", d)
	}

	leader := startNode(t)
	fb = &followerBackend{err: &flowmesh.NotLeaderError{LeaderID: "leader", LeaderAddr: leader.addr}}
	kv = pb.NewKVServiceClient(dial(t, startFollower(t, fb, rpc.Config{DisableForwarding: true})))
	_, err = kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k"})
	if d := notLeaderDetail(t, err); d.GetLeaderAddr() != leader.addr {
		t.Errorf("detail %v, want the leader's address", d)
	}
}

// TestForwardLoop: two followers naming each other as leader answer
// NotLeader after one hop instead of bouncing the call.
func TestForwardLoop(t *testing.T) {
	ctx := ctxFor(t)
	lisA, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lisB, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &followerBackend{err: &flowmesh.NotLeaderError{LeaderID: "b", LeaderAddr: lisB.Addr().String()}}
	b := &followerBackend{err: &flowmesh.NotLeaderError{LeaderID: "a", LeaderAddr: lisA.Addr().String()}}
	for _, x := range []struct {
		lis net.Listener
		b   rpc.Node
	}{{lisA, a}, {lisB, b}} {
		srv := rpc.NewServer(rpc.Config{Logger: quietLogger()}, x.b)
		go srv.Serve(x.lis)
		t.Cleanup(srv.Stop)
	}
	_, err = pb.NewKVServiceClient(dial(t, lisA.Addr().String())).Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k"})
	if d := notLeaderDetail(t, err); d.GetLeaderId() != "a" {
		t.Errorf("detail %v, want B's answer (leader a)", d)
	}
	if a.calls != 1 || b.calls != 1 {
		t.Errorf("calls: a %d, b %d; want one each", a.calls, b.calls)
	}
}

// leaderBackend records what a forwarded Put brought along.
type leaderBackend struct {
	rpc.Node  // nil: calls this fake does not script panic (answered Internal)
	deadline  time.Time
	forwarded []string
	trace     []string
}

func (b *leaderBackend) Put(ctx context.Context, _, _ string, _ []byte, _ flowmesh.KVPutOptions, _ ...flowmesh.CallOption) (uint64, error) {
	b.deadline, _ = ctx.Deadline()
	md, _ := metadata.FromIncomingContext(ctx)
	b.forwarded, b.trace = md.Get(rpc.MetadataForwarded), md.Get("x-trace")
	return 7, nil
}

// TestForwardCarriesDeadlineAndMetadata: the forwarded call runs under the
// caller's deadline, with the caller's metadata, marked forwarded.
func TestForwardCarriesDeadlineAndMetadata(t *testing.T) {
	lb := &leaderBackend{}
	leaderAddr := startFollower(t, lb, rpc.Config{})
	fb := &followerBackend{err: &flowmesh.NotLeaderError{LeaderID: "leader", LeaderAddr: leaderAddr}}
	kv := pb.NewKVServiceClient(dial(t, startFollower(t, fb, rpc.Config{})))
	deadline := time.Now().Add(7 * time.Second)
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	resp, err := kv.Put(metadata.AppendToOutgoingContext(ctx, "x-trace", "abc"), &pb.PutRequest{Path: "t/ns/kv", Key: "k"})
	if err != nil || resp.GetRevision() != 7 {
		t.Fatalf("Put = %v, %v; want the leader's revision 7", resp, err)
	}
	if d := lb.deadline.Sub(deadline); lb.deadline.IsZero() || d > 100*time.Millisecond || d < -time.Second {
		t.Errorf("leader saw deadline %v, want about %v", lb.deadline, deadline)
	}
	if len(lb.forwarded) != 1 || len(lb.trace) != 1 || lb.trace[0] != "abc" {
		t.Errorf("leader saw forwarded %v, x-trace %v; want [1], [abc]", lb.forwarded, lb.trace)
	}
}
