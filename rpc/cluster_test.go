package rpc_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh/internal/freeport"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// TestClusterForwarding runs three in-process nodes: writes and
// linearizable reads sent to a follower are forwarded to the leader, direct
// ones get NotLeader with the leader's gRPC address, stale reads on a
// follower converge, and the cluster calls report and manage the members.
func TestClusterForwarding(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	followers := rpctest.Followers(nodes, leader)
	ctx := ctxFor(t)
	f0 := dial(t, followers[0].Addr)
	kv := pb.NewKVServiceClient(f0)

	if _, err := pb.NewResourceServiceClient(f0).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv", RequestId: "c1"}); err != nil {
		t.Fatalf("CreateKVStore through a follower: %v", err)
	}
	var hdr metadata.MD
	put, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Value: []byte("v1")}, grpc.Header(&hdr))
	if err != nil {
		t.Fatalf("Put through a follower: %v", err)
	}
	if got := hdr.Get(rpc.MetadataLeader); len(got) != 1 || got[0] != leader.Addr {
		t.Errorf("leader header %v, want %s", got, leader.Addr)
	}
	// A linearizable read on the other follower sees the acknowledged write.
	got, err := pb.NewKVServiceClient(dial(t, followers[1].Addr)).Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k"})
	if err != nil || string(got.GetEntry().GetValue()) != "v1" {
		t.Fatalf("linearizable Get on a follower = %v, %v; want v1", got, err)
	}
	// Direct: NotLeader with the leader's gRPC address.
	_, err = kv.Put(metadata.AppendToOutgoingContext(ctx, rpc.MetadataDirect, "1"), &pb.PutRequest{Path: "t/ns/kv", Key: "k", Value: []byte("x")})
	if d := notLeaderDetail(t, err); d.GetLeaderAddr() != leader.Addr || d.GetLeaderId() != leader.ID {
		t.Errorf("direct Put on a follower: detail %v, want leader %s at %s", d, leader.ID, leader.Addr)
	}
	// Stale reads on every node converge.
	for _, n := range nodes {
		c := pb.NewKVServiceClient(dial(t, n.Addr))
		rpctest.WaitFor(t, 10*time.Second, "stale read on "+n.ID, func() error {
			got, err := c.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k", Options: &pb.CallOptions{Consistency: pb.Consistency_CONSISTENCY_STALE}})
			if err != nil {
				return err
			}
			if got.GetEntry().GetRevision() != put.GetRevision() {
				return fmt.Errorf("revision %d, want %d", got.GetEntry().GetRevision(), put.GetRevision())
			}
			return nil
		})
	}

	// Every replica reaches the same state hash at the same applied index,
	// and each answers for itself (StateHash is never forwarded).
	var want string
	for _, n := range nodes {
		c := pb.NewClusterServiceClient(dial(t, n.Addr))
		rpctest.WaitFor(t, 10*time.Second, "state hash of "+n.ID, func() error {
			h, err := c.StateHash(ctx, &pb.StateHashRequest{})
			if err != nil {
				return err
			}
			if h.GetHash() == "" || h.GetAppliedIndex() == 0 {
				return fmt.Errorf("empty hash %v", h)
			}
			if want == "" {
				want = h.GetHash()
			}
			if h.GetHash() != want {
				return fmt.Errorf("hash %s at index %d, want %s", h.GetHash(), h.GetAppliedIndex(), want)
			}
			return nil
		})
	}

	cs := pb.NewClusterServiceClient(f0)
	mem, err := cs.Members(ctx, &pb.MembersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	leaders, voters := 0, 0
	for _, m := range mem.GetMembers() {
		if m.GetLeader() {
			leaders++
			if m.GetId() != leader.ID || m.GetGrpcAddr() != leader.Addr {
				t.Errorf("leader member %v, want %s at %s", m, leader.ID, leader.Addr)
			}
		}
		if m.GetVoter() {
			voters++
		}
	}
	if len(mem.GetMembers()) != 3 || leaders != 1 || voters != 3 {
		t.Errorf("members %v: want 3 voters, one leader", mem.GetMembers())
	}
	for _, n := range nodes {
		st, err := pb.NewClusterServiceClient(dial(t, n.Addr)).Status(ctx, &pb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		s := st.GetStatus()
		if s.GetHealth() != "healthy" || s.GetLeaderGrpcAddr() != leader.Addr || s.GetTerm() == 0 || s.GetCommitIndex() == 0 ||
			!s.GetReady() || s.GetReadiness() != "ready" || s.GetNotReadyReason() != "" || s.GetBehind() != 0 {
			t.Errorf("status of %s: %v", n.ID, s)
		}
	}

	// TransferLeader sent to a follower is forwarded to the leader.
	if _, err := cs.TransferLeader(ctx, &pb.TransferLeaderRequest{NodeId: followers[1].ID}); err != nil {
		t.Fatalf("TransferLeader through a follower: %v", err)
	}
	if nl := rpctest.Leader(t, nodes); nl != followers[1] {
		t.Errorf("leader after transfer is %s, want %s", nl.ID, followers[1].ID)
	}
	// Writes through the old leader (now a follower) are forwarded once it
	// knows the new leader.
	old := pb.NewKVServiceClient(dial(t, leader.Addr))
	rpctest.WaitFor(t, 10*time.Second, "a Put through the old leader", func() error {
		_, err := old.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "k", Value: []byte("v2"), Options: &pb.CallOptions{RequestId: "p2"}})
		return err
	})
}

// TestClusterSnapshot saves a snapshot through a follower, changes the
// state, restores the snapshot through a follower and finds every node back
// at the saved state.
func TestClusterSnapshot(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	f := dial(t, rpctest.Followers(nodes, leader)[0].Addr)
	ctx := ctxFor(t)
	if _, err := pb.NewResourceServiceClient(f).CreateKVStore(ctx, &pb.CreateKVStoreRequest{Tenant: "t", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatal(err)
	}
	kv := pb.NewKVServiceClient(f)
	for i := range 20 {
		if _, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: string(fmt.Appendf(nil, "k%d", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	// The leader's state now, the same on every node once applied.
	if _, err := kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "k0"}); err != nil {
		t.Fatal(err)
	}
	want, err := leader.Store.StateHash()
	if err != nil {
		t.Fatal(err)
	}

	cs := pb.NewClusterServiceClient(f)
	info, data := saveSnapshot(t, f)

	for i := range 5 {
		if _, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: string(fmt.Appendf(nil, "after%d", i)), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	restore, err := cs.SnapshotRestore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := data
	for first := true; first || len(b) > 0; first = false {
		n := min(len(b), 64<<10)
		msg := &pb.SnapshotRestoreRequest{Data: b[:n]}
		if first {
			msg.Info = info
		}
		if err := restore.Send(msg); err != nil {
			break
		}
		b = b[n:]
	}
	if _, err := restore.CloseAndRecv(); err != nil {
		t.Fatalf("SnapshotRestore: %v", err)
	}
	for _, n := range nodes {
		rpctest.WaitFor(t, 15*time.Second, "restored state on "+n.ID, func() error {
			got, err := n.Store.StateHash()
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("state hash %s, want %s", got, want)
			}
			return nil
		})
	}
	_, err = kv.Get(ctx, &pb.GetRequest{Path: "t/ns/kv", Key: "after0"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("a key written after the snapshot: %v, want NotFound", err)
	}
	// A corrupt upload is refused and changes nothing.
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff
	restore, err = cs.SnapshotRestore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := restore.Send(&pb.SnapshotRestoreRequest{Info: info, Data: bad}); err != nil {
		t.Fatal(err)
	}
	if _, err := restore.CloseAndRecv(); err == nil {
		t.Error("restoring a corrupt snapshot succeeded")
	}
	if got, err := leader.Store.StateHash(); err != nil || got != want {
		t.Errorf("state after a refused restore: %s, %v; want %s", got, err, want)
	}
	// The cluster takes writes after the restore.
	if _, err := kv.Put(ctx, &pb.PutRequest{Path: "t/ns/kv", Key: "new", Value: []byte("v")}); err != nil {
		t.Fatalf("Put after restore: %v", err)
	}
}

// TestClusterPreconditions: calls the cluster cannot satisfy in its present
// shape are FailedPrecondition with one line saying why (they were
// Internal: raft's "cannot find peer", memberlist's multi-line error).
func TestClusterPreconditions(t *testing.T) {
	nodes := rpctest.StartCluster(t, 1, nil)
	ctx := ctxFor(t)
	cs := pb.NewClusterServiceClient(dial(t, nodes[0].Addr))

	_, err := cs.TransferLeader(ctx, &pb.TransferLeaderRequest{})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "only voter") {
		t.Errorf("TransferLeader on a single node: %v, want FailedPrecondition naming the only voter", err)
	}

	dead := freeport.Addr(t) // nothing listens there
	_, err = cs.Join(ctx, &pb.JoinRequest{Addrs: []string{dead}})
	msg := status.Convert(err).Message()
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(msg, "no member answered") ||
		!strings.Contains(msg, dead) || strings.Contains(msg, "\n") {
		t.Errorf("Join of a dead address: %v, want FailedPrecondition in one line naming %s", err, dead)
	}
}
