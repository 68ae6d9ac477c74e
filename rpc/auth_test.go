package rpc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/auth"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// tokens is a token file with one subject per kind of grant.
type tokens struct {
	store                                   *auth.Store
	t1Admin, t1Read, t1Orders, t2Admin, ops string
}

func newTokens(t *testing.T) *tokens {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	add := func(subject string, grants ...string) string {
		tok, err := auth.AddToken(path, subject, grants)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	k := &tokens{
		t1Admin:  add("t1-admin", "t1:admin"),
		t1Read:   add("t1-reader", "t1:read"),
		t1Orders: add("t1-orders", "t1/orders:admin"),
		t2Admin:  add("t2-admin", "t2:admin"),
		ops:      add("ops", "cluster-admin"),
	}
	// A certificate subject with cluster-admin: a client that asserts it
	// over a plain connection must get nothing from it.
	if err := appendLine(path, "root cert cluster-admin\n"); err != nil {
		t.Fatal(err)
	}
	s, err := auth.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	k.store = s
	return k
}

func as(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func wantCode(t *testing.T, what string, err error, want codes.Code, secrets ...string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: %v, want %v", what, err, want)
		return
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("%s: the error shows a token: %v", what, err)
		}
	}
}

func authNode(t *testing.T) (*node, *tokens, *grpc.ClientConn) {
	t.Helper()
	k := newTokens(t)
	n := startNodeWith(t, func(c *rpc.Config) { c.Auth = k.store })
	return n, k, dial(t, n.addr)
}

func stateHash(t *testing.T, n *node) string {
	t.Helper()
	h, err := n.store.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestAuthNeedsCredential(t *testing.T) {
	_, k, cc := authNode(t)
	ctx := ctxFor(t)
	kv := pb.NewKVServiceClient(cc)
	_, err := kv.Get(ctx, &pb.GetRequest{Path: "t1/ns/kv", Key: "k"})
	wantCode(t, "Get without a token", err, codes.Unauthenticated)
	_, err = kv.Get(as(ctx, k.t1Admin+"x"), &pb.GetRequest{Path: "t1/ns/kv", Key: "k"})
	wantCode(t, "Get with a wrong token", err, codes.Unauthenticated, k.t1Admin)
	_, err = kv.Get(metadata.AppendToOutgoingContext(ctx, "authorization", k.t1Admin), &pb.GetRequest{Path: "t1/ns/kv"})
	wantCode(t, "Get with a token without the Bearer scheme", err, codes.Unauthenticated, k.t1Admin)
	_, err = pb.NewClusterServiceClient(cc).Status(ctx, &pb.StatusRequest{})
	wantCode(t, "Status without a token", err, codes.Unauthenticated)

	// Tools stay open.
	if resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health without a token: %v, %v", resp, err)
	}
	// Any authenticated caller may ask for status (the SDK finds the leader so).
	if _, err := pb.NewClusterServiceClient(cc).Status(as(ctx, k.t1Read), &pb.StatusRequest{}); err != nil {
		t.Errorf("Status with a token: %v", err)
	}
	// This node has no cluster part: Members fails, but not for auth.
	_, err = pb.NewClusterServiceClient(cc).Members(as(ctx, k.t1Read), &pb.MembersRequest{})
	if c := status.Code(err); c == codes.Unauthenticated || c == codes.PermissionDenied {
		t.Errorf("Members with a token: %v", err)
	}
}

func TestAuthTenantIsolation(t *testing.T) {
	n, k, cc := authNode(t)
	ctx := ctxFor(t)
	res, kv := pb.NewResourceServiceClient(cc), pb.NewKVServiceClient(cc)
	for _, c := range []struct{ tok, tenant string }{{k.t1Admin, "t1"}, {k.t2Admin, "t2"}} {
		if _, err := res.CreateKVStore(as(ctx, c.tok), &pb.CreateKVStoreRequest{Tenant: c.tenant, Namespace: "ns", Name: "kv"}); err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(as(ctx, c.tok), &pb.PutRequest{Path: c.tenant + "/ns/kv", Key: "k", Value: []byte(c.tenant)}); err != nil {
			t.Fatal(err)
		}
	}
	before := stateHash(t, n)

	t1 := as(ctx, k.t1Admin)
	denied := []struct {
		what string
		call func() error
	}{
		{"get t2's key", func() error {
			_, err := kv.Get(t1, &pb.GetRequest{Path: "t2/ns/kv", Key: "k"})
			return err
		}},
		{"put t2's key", func() error {
			_, err := kv.Put(t1, &pb.PutRequest{Path: "t2/ns/kv", Key: "k", Value: []byte("x")})
			return err
		}},
		{"delete t2's key", func() error {
			_, err := kv.Delete(t1, &pb.DeleteRequest{Path: "t2/ns/kv", Key: "k"})
			return err
		}},
		{"list t2's keys", func() error {
			_, err := kv.List(t1, &pb.ListRequest{Path: "t2/ns/kv"})
			return err
		}},
		{"get t2's resource", func() error {
			_, err := res.GetResource(t1, &pb.GetResourceRequest{Path: "t2/ns/kv"})
			return err
		}},
		{"list t2's resources", func() error {
			_, err := res.ListResources(t1, &pb.ListResourcesRequest{Tenant: "t2"})
			return err
		}},
		{"delete t2's resource", func() error {
			_, err := res.DeleteResource(t1, &pb.DeleteResourceRequest{Path: "t2/ns/kv"})
			return err
		}},
		{"create in t2", func() error {
			_, err := res.CreateStream(t1, &pb.CreateStreamRequest{Tenant: "t2", Namespace: "ns", Name: "s", Config: &pb.StreamConfig{Partitions: 1}})
			return err
		}},
		{"enqueue in t2", func() error {
			_, err := pb.NewQueueServiceClient(cc).Enqueue(t1, &pb.EnqueueRequest{Path: "t2/ns/q", Payload: []byte("j")})
			return err
		}},
		{"write t2's stream", func() error {
			_, err := pb.NewStreamServiceClient(cc).WriteEvents(t1, &pb.WriteEventsRequest{Path: "t2/ns/s"})
			return err
		}},
		{"watch t2's keys", func() error {
			w, err := kv.Watch(t1, &pb.WatchRequest{Path: "t2/ns/kv"})
			if err != nil {
				return err
			}
			_, err = w.Recv()
			return err
		}},
		{"reader puts in t1", func() error {
			_, err := kv.Put(as(ctx, k.t1Read), &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("x")})
			return err
		}},
		{"writer deletes a t1 resource", func() error {
			_, err := res.DeleteResource(as(ctx, k.t1Read), &pb.DeleteResourceRequest{Path: "t1/ns/kv"})
			return err
		}},
	}
	for _, d := range denied {
		err := d.call()
		wantCode(t, d.what, err, codes.PermissionDenied, k.t1Admin, k.t1Read)
		if err != nil && status.Code(err) == codes.PermissionDenied && !strings.Contains(err.Error(), `"t1-`) {
			t.Errorf("%s: %v does not name the subject", d.what, err)
		}
	}
	// A path the scope cannot be read from is bad input, not an auth error.
	_, err := kv.Get(t1, &pb.GetRequest{Path: "t1/no-name", Key: "k"})
	wantCode(t, "Get with a malformed path", err, codes.InvalidArgument)
	if after := stateHash(t, n); after != before {
		t.Errorf("refused calls changed the state")
	}
	// What the grants allow still works.
	if got, err := kv.Get(as(ctx, k.t1Read), &pb.GetRequest{Path: "t1/ns/kv", Key: "k"}); err != nil || string(got.GetEntry().GetValue()) != "t1" {
		t.Errorf("t1 reader Get = %v, %v", got, err)
	}
	if _, err := res.DeleteResource(t1, &pb.DeleteResourceRequest{Path: "t1/ns/kv"}); err != nil {
		t.Errorf("t1 admin DeleteResource: %v", err)
	}
}

func TestAuthClusterCallsNeedClusterAdmin(t *testing.T) {
	_, k, cc := authNode(t)
	ctx := ctxFor(t)
	cl := pb.NewClusterServiceClient(cc)
	t1 := as(ctx, k.t1Admin)
	calls := map[string]func(context.Context) error{
		"Join": func(ctx context.Context) error {
			_, err := cl.Join(ctx, &pb.JoinRequest{Addrs: []string{"127.0.0.1:1"}})
			return err
		},
		"Leave": func(ctx context.Context) error {
			_, err := cl.Leave(ctx, &pb.LeaveRequest{NodeId: "nobody"})
			return err
		},
		"RemovePeer": func(ctx context.Context) error {
			_, err := cl.RemovePeer(ctx, &pb.RemovePeerRequest{NodeId: "nobody"})
			return err
		},
		"TransferLeader": func(ctx context.Context) error {
			_, err := cl.TransferLeader(ctx, &pb.TransferLeaderRequest{})
			return err
		},
		"StateHash": func(ctx context.Context) error {
			_, err := cl.StateHash(ctx, &pb.StateHashRequest{})
			return err
		},
		"SetQuota": func(ctx context.Context) error {
			_, err := cl.SetQuota(ctx, &pb.SetQuotaRequest{Tenant: "t1", Limits: &pb.QuotaLimits{Resources: proto.Int64(100)}})
			return err
		},
		"GetQuota of the default": func(ctx context.Context) error {
			_, err := cl.GetQuota(ctx, &pb.GetQuotaRequest{Tenant: "*"})
			return err
		},
		"SnapshotSave": func(ctx context.Context) error {
			s, err := cl.SnapshotSave(ctx, &pb.SnapshotSaveRequest{})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		},
		"SnapshotRestore": func(ctx context.Context) error {
			s, err := cl.SnapshotRestore(ctx)
			if err != nil {
				return err
			}
			_, err = s.CloseAndRecv()
			return err
		},
	}
	for name, call := range calls {
		wantCode(t, name+" without a token", call(ctx), codes.Unauthenticated)
		err := call(t1)
		wantCode(t, name+" with a tenant admin's token", err, codes.PermissionDenied, k.t1Admin)
		if err != nil && !strings.Contains(err.Error(), "cluster-admin") {
			t.Errorf("%s: %v does not say what is needed", name, err)
		}
	}
	// cluster-admin passes authorization (the calls themselves may fail
	// for what they ask, never with an auth code).
	for name, call := range calls {
		if c := status.Code(call(as(ctx, k.ops))); c == codes.Unauthenticated || c == codes.PermissionDenied {
			t.Errorf("%s with cluster-admin: %v", name, c)
		}
	}
}

// TestAuthGetQuotaForTheTenantsAdmin: a tenant's admin reads its own quota
// and use, not another tenant's; a reader may not.
func TestAuthGetQuotaForTheTenantsAdmin(t *testing.T) {
	_, k, cc := authNode(t)
	ctx := ctxFor(t)
	cl := pb.NewClusterServiceClient(cc)
	get := func(tok, tenant string) error {
		_, err := cl.GetQuota(as(ctx, tok), &pb.GetQuotaRequest{Tenant: tenant})
		return err
	}
	if err := get(k.t1Admin, "t1"); err != nil {
		t.Errorf("t1 admin GetQuota t1: %v", err)
	}
	if err := get(k.ops, "t2"); err != nil {
		t.Errorf("cluster-admin GetQuota t2: %v", err)
	}
	wantCode(t, "t1 admin GetQuota t2", get(k.t1Admin, "t2"), codes.PermissionDenied)
	wantCode(t, "t1 reader GetQuota t1", get(k.t1Read, "t1"), codes.PermissionDenied)
}

func TestAuthListFilteredByNamespace(t *testing.T) {
	_, k, cc := authNode(t)
	ctx := ctxFor(t)
	res := pb.NewResourceServiceClient(cc)
	for _, ns := range []string{"orders", "orders-eu", "billing"} {
		if _, err := res.CreateKVStore(as(ctx, k.ops), &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: ns, Name: "kv"}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(tok, ns string) ([]string, error) {
		r, err := res.ListResources(as(ctx, tok), &pb.ListResourcesRequest{Tenant: "t1", Namespace: ns})
		var out []string
		for _, x := range r.GetResources() {
			out = append(out, x.GetNamespace())
		}
		sort.Strings(out)
		return out, err
	}
	got, err := list(k.t1Orders, "")
	if err != nil || strings.Join(got, ",") != "orders,orders-eu" {
		t.Errorf("namespace-prefix grant lists %v, %v; want orders,orders-eu", got, err)
	}
	got, err = list(k.t1Read, "")
	if err != nil || len(got) != 3 {
		t.Errorf("tenant grant lists %v, %v; want all three", got, err)
	}
	_, err = list(k.t1Orders, "billing")
	wantCode(t, "list a namespace outside the prefix", err, codes.PermissionDenied)
	if got, err := list(k.t1Orders, "orders"); err != nil || len(got) != 1 {
		t.Errorf("list orders = %v, %v", got, err)
	}
	// The prefix grant is admin there: it creates in orders, not in billing.
	_, err = res.CreateKVStore(as(ctx, k.t1Orders), &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "billing", Name: "x"})
	wantCode(t, "create outside the prefix", err, codes.PermissionDenied)
	if _, err := res.CreateKVStore(as(ctx, k.t1Orders), &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "orders", Name: "x"}); err != nil {
		t.Errorf("create inside the prefix: %v", err)
	}
}

// TestEveryMethodHasAccess walks every registered method: each flowmesh one
// has a rule (a method without one is refused), and only the gRPC tooling
// is open.
func TestEveryMethodHasAccess(t *testing.T) {
	n := startNode(t)
	count := 0
	for svc, info := range n.server.GRPCServer().GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if strings.HasPrefix(svc, "flowmesh.") {
				count++
				if !rpc.HasAccessRule(full) {
					t.Errorf("%s has no authorization rule", full)
				}
				if rpc.IsOpenMethod(full) {
					t.Errorf("%s is open", full)
				}
			} else if !rpc.IsOpenMethod(full) {
				t.Errorf("%s: a service outside flowmesh.v1 that is neither health nor reflection", full)
			}
		}
	}
	if count < 39 {
		t.Errorf("only %d flowmesh methods registered", count)
	}
	if rpc.HasAccessRule("/flowmesh.v1.KVService/NotAMethod") {
		t.Error("an unknown method has a rule")
	}
}

func TestDeadLetterQueueOfAnotherTenantRefused(t *testing.T) {
	for _, mode := range []string{"open", "auth"} {
		t.Run(mode, func(t *testing.T) {
			k := newTokens(t)
			n := startNodeWith(t, func(c *rpc.Config) {
				if mode == "auth" {
					c.Auth = k.store
				}
			})
			ctx := as(ctxFor(t), k.ops)
			res := pb.NewResourceServiceClient(dial(t, n.addr))
			if _, err := res.CreateQueue(ctx, &pb.CreateQueueRequest{Tenant: "t2", Namespace: "ns", Name: "dlq"}); err != nil {
				t.Fatal(err)
			}
			_, err := res.CreateQueue(ctx, &pb.CreateQueueRequest{Tenant: "t1", Namespace: "ns", Name: "q",
				Config: &pb.QueueConfig{VisibilityTimeout: durationpb.New(flowmesh.DefaultVisibilityTimeout), DeadLetterQueue: "t2/ns/dlq"}})
			wantCode(t, "CreateQueue with t2's dead-letter queue", err, codes.InvalidArgument)
			if err != nil && !strings.Contains(err.Error(), "dead_letter_queue") {
				t.Errorf("%v does not name dead_letter_queue", err)
			}
			if _, err := res.GetResource(ctx, &pb.GetResourceRequest{Path: "t1/ns/q"}); status.Code(err) != codes.NotFound {
				t.Errorf("the refused queue exists: %v", err)
			}
			// The SDK refuses it too, before sending.
			_, err = n.newClientToken(t, k.ops).CreateQueue(ctx, "t1", "ns", "q", 1, flowmesh.WithDeadLetterQueue("t2/ns/dlq"))
			if !errors.Is(err, flowmesh.ErrInvalidArgument) {
				t.Errorf("client CreateQueue: %v, want ErrInvalidArgument", err)
			}
		})
	}
}

// TestForwardKeepsIdentity sends calls to a follower of an authenticated
// cluster: the leader must see the caller's token (else it would answer
// Unauthenticated), and a subject a client asserts itself is worthless.
func TestForwardKeepsIdentity(t *testing.T) {
	k := newTokens(t)
	nodes := rpctest.StartClusterWith(t, 3, nil, func(c *rpc.Config) { c.Auth = k.store })
	leader := rpctest.Leader(t, nodes)
	fol := rpctest.Followers(nodes, leader)[0]
	cc := dial(t, fol.Addr)
	ctx := ctxFor(t)
	res, kv := pb.NewResourceServiceClient(cc), pb.NewKVServiceClient(cc)
	if _, err := res.CreateKVStore(as(ctx, k.t1Admin), &pb.CreateKVStoreRequest{Tenant: "t1", Namespace: "ns", Name: "kv"}); err != nil {
		t.Fatalf("create through a follower: %v", err)
	}
	var hdr metadata.MD
	if _, err := kv.Put(as(ctx, k.t1Admin), &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("v")}, grpc.Header(&hdr)); err != nil {
		t.Fatalf("put through a follower: %v", err)
	}
	if len(hdr.Get(rpc.MetadataLeader)) == 0 {
		t.Error("the put was not forwarded (no leader header)")
	}
	_, err := kv.Put(as(ctx, k.t2Admin), &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("x")})
	wantCode(t, "t2 puts in t1 through a follower", err, codes.PermissionDenied, k.t2Admin)

	// A subject asserted by a plain client: refused alone, ignored beside
	// a token, and never passed on.
	forged := metadata.AppendToOutgoingContext(ctx, rpc.MetadataSubject, "root")
	_, err = pb.NewClusterServiceClient(cc).TransferLeader(forged, &pb.TransferLeaderRequest{})
	wantCode(t, "forged subject alone", err, codes.Unauthenticated)
	_, err = pb.NewClusterServiceClient(cc).TransferLeader(as(forged, k.t1Admin), &pb.TransferLeaderRequest{})
	wantCode(t, "forged subject with a tenant token", err, codes.PermissionDenied)
	_, err = kv.Put(as(forged, k.t2Admin), &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("x")})
	wantCode(t, "forged subject with t2's token on t1", err, codes.PermissionDenied)
	if got, err := kv.Get(as(ctx, k.t1Read), &pb.GetRequest{Path: "t1/ns/kv", Key: "k"}); err != nil || string(got.GetEntry().GetValue()) != "v" {
		t.Errorf("Get = %v, %v; want v", got, err)
	}

	// A follower leaving under a cluster-admin token asks the leader to
	// remove it with that token (no peer TLS here).
	if _, err := pb.NewClusterServiceClient(cc).Leave(as(ctx, k.ops), &pb.LeaveRequest{}); err != nil {
		t.Fatalf("Leave of a follower with cluster-admin: %v", err)
	}
}

func appendLine(path, line string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line)
	return err
}
