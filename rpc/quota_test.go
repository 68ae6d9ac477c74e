package rpc_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
	"github.com/flowmesh/flowmesh/storage"
)

// TestClusterQuotasAgree runs a 3-node cluster whose nodes are configured
// with a default quota: the leader proposes it, so every replica holds it.
// A tenant then writes through a follower until its quota refuses, and
// every replica ends with the same state hash and the same usage.
func TestClusterQuotasAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	def := int64(2)
	nodes := rpctest.StartCluster(t, 3, func(c *storage.Config) { c.DefaultQuota.Resources = &def })
	for _, n := range nodes {
		rpctest.WaitFor(t, 15*time.Second, "the configured default quota on "+n.ID, func() error {
			if got := n.Store.QuotaLimits("anyone").Resources; got != def {
				return fmt.Errorf("default resources %d", got)
			}
			return nil
		})
	}
	leader := rpctest.Leader(t, nodes)
	c, err := client.New(client.Config{Endpoints: []string{rpctest.Followers(nodes, leader)[0].Addr}, Pinned: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t)
	if _, err := c.SetQuota(ctx, "t1", flowmesh.QuotaLimits{StoredBytes: &[]int64{1000}[0]}, false); err != nil {
		t.Fatalf("SetQuota through a follower: %v", err)
	}
	if _, err := c.CreateKVStore(ctx, "t1", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(ctx, "t1", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateStream(ctx, "t1", "ns", "s", 1)
	var qe *flowmesh.QuotaError
	if !errors.As(err, &qe) || qe.Quota != flowmesh.QuotaResources || qe.Limit != def {
		t.Fatalf("third resource under the default: %v", err)
	}
	puts := 0
	for ; puts < 100; puts++ {
		_, err = c.Put(ctx, "t1/ns/kv", fmt.Sprintf("k%02d", puts), make([]byte, 97), flowmesh.KVPutOptions{})
		if err != nil {
			break
		}
	}
	if !errors.As(err, &qe) || qe.Quota != flowmesh.QuotaStoredBytes || puts != 10 {
		t.Fatalf("after %d puts of 100 bytes: %v, want stored_bytes refused after 10", puts, err)
	}
	if qe.Using != 1000 || qe.Needs != 100 || qe.Limit != 1000 {
		t.Fatalf("quota error %+v", qe)
	}
	q, err := c.Quota(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	mem := int64(2*flowmesh.MemoryPerResource + 10*(flowmesh.MemoryPerKVKey+100))
	if want := (flowmesh.QuotaValues{StoredBytes: 1000, Resources: 2, KVKeys: 10, MemoryBytes: mem}); q.Usage != want {
		t.Fatalf("usage %+v, want %+v", q.Usage, want)
	}
	want, err := leader.Store.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		rpctest.WaitFor(t, 15*time.Second, "the leader's state on "+n.ID, func() error {
			got, err := n.Store.StateHash()
			if err != nil || got != want {
				return fmt.Errorf("state hash %s (%v), want %s", got, err, want)
			}
			tenants, usage := n.Store.QuotaUsage()
			if len(tenants) != 1 || tenants[0] != "t1" || usage[0] != q.Usage {
				return fmt.Errorf("usage %v %+v, want t1 %+v", tenants, usage, q.Usage)
			}
			return nil
		})
	}
}

// TestTenantRateLimit: with a tenant rate of one call per 1000 s and a
// burst of 2, a tenant's third call is ResourceExhausted with a retry hint,
// sent once by the SDK (not retried), while another tenant is unaffected.
func TestTenantRateLimit(t *testing.T) {
	n := startNodeWith(t, func(c *rpc.Config) { c.TenantRate, c.TenantBurst = 0.001, 2 })
	ctx := ctxFor(t)
	c := n.newClient(t)
	if _, err := c.CreateKVStore(ctx, "t1", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "t1/ns/kv", "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Put(ctx, "t1/ns/kv", "k", []byte("v"), flowmesh.KVPutOptions{})
	var re *flowmesh.RateLimitError
	if !errors.As(err, &re) || re.Tenant != "t1" || re.Rate != 0.001 || re.Burst != 2 || re.RetryAfter < 100*time.Second {
		t.Fatalf("third call: %v, want a RateLimitError for t1 with a retry hint", err)
	}
	if !errors.Is(err, flowmesh.ErrLimitExceeded) {
		t.Fatalf("%v does not match ErrLimitExceeded", err)
	}
	put := pb.KVService_Put_FullMethodName
	if got := n.metrics.count(put, codes.ResourceExhausted); got != 1 {
		t.Fatalf("the SDK sent the refused call %d times, want once", got)
	}
	// The raw status names the tenant and the limit.
	_, err = pb.NewKVServiceClient(dial(t, n.addr)).Put(ctx, &pb.PutRequest{Path: "t1/ns/kv", Key: "k", Value: []byte("v")})
	if st := status.Convert(err); st.Code() != codes.ResourceExhausted || st.Message() == "" {
		t.Fatalf("raw call: %v", err)
	}
	// Another tenant has its own bucket; calls naming no tenant are not limited.
	if _, err := c.CreateKVStore(ctx, "t2", "ns", "kv"); err != nil {
		t.Fatalf("t2: %v", err)
	}
	for range 3 {
		if _, err := c.Status(ctx); err != nil {
			t.Fatalf("Status: %v", err)
		}
	}
}

// TestMemoryQuotaOverGRPC: a put past the cluster-wide memory quota is
// ResourceExhausted with a detail naming the cluster-wide quota, its limit,
// the use and the need, which the SDK maps back to the same *QuotaError;
// it is sent once and changes nothing. The cluster admin raises the limit
// (SetQuota of "*") and the put goes through; a tenant's own memory quota
// is an invalid argument.
func TestMemoryQuotaOverGRPC(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t)
	c := n.newClient(t)
	def, err := c.Quota(ctx, flowmesh.DefaultQuotaTenant)
	if err != nil {
		t.Fatal(err)
	}
	if def.Limits.MemoryBytes != flowmesh.DefaultMemoryQuota {
		t.Fatalf("default memory quota %d, want %d", def.Limits.MemoryBytes, flowmesh.DefaultMemoryQuota)
	}
	if _, err := c.CreateKVStore(ctx, "t1", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	perPut := int64(flowmesh.MemoryPerKVKey + 1 + 500)
	limit := int64(flowmesh.MemoryPerResource) + perPut
	if q, err := c.SetQuota(ctx, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit}, false); err != nil || q.Limits.MemoryBytes != limit {
		t.Fatalf("SetQuota: %+v, %v", q, err)
	}
	if _, err := c.Put(ctx, "t1/ns/kv", "a", make([]byte, 500), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	use := limit
	_, err = c.Put(ctx, "t1/ns/kv", "b", make([]byte, 500), flowmesh.KVPutOptions{})
	var qe *flowmesh.QuotaError
	want := flowmesh.QuotaError{Tenant: flowmesh.DefaultQuotaTenant, Quota: flowmesh.QuotaMemoryBytes, Limit: limit, Using: use, Needs: perPut}
	if !errors.As(err, &qe) || *qe != want || !errors.Is(err, flowmesh.ErrLimitExceeded) {
		t.Fatalf("put past the memory quota: %v, want %+v", err, want)
	}
	if got := n.metrics.count(pb.KVService_Put_FullMethodName, codes.ResourceExhausted); got != 1 {
		t.Fatalf("the SDK sent the refused put %d times, want once", got)
	}
	_, err = pb.NewKVServiceClient(dial(t, n.addr)).Put(ctx, &pb.PutRequest{Path: "t1/ns/kv", Key: "b", Value: make([]byte, 500)})
	st := status.Convert(err)
	var d *pb.ErrorDetail
	for _, x := range st.Details() {
		if ed, ok := x.(*pb.ErrorDetail); ok {
			d = ed
		}
	}
	if st.Code() != codes.ResourceExhausted || d == nil || d.GetLimitWhat() != "cluster-wide quota memory_bytes" ||
		d.GetQuotaTenant() != flowmesh.DefaultQuotaTenant || d.GetLimit() != limit || d.GetQuotaUsing() != use || d.GetQuotaNeeds() != perPut {
		t.Fatalf("raw put: %v, detail %+v", err, d)
	}
	if _, err := c.Get(ctx, "t1/ns/kv", "b"); !errors.Is(err, flowmesh.ErrNotFound) {
		t.Fatalf("the refused key: %v, want not found", err)
	}
	if q, err := c.Quota(ctx, flowmesh.DefaultQuotaTenant); err != nil || q.Usage.MemoryBytes != use {
		t.Fatalf("memory use after refusals: %+v, %v, want %d", q, err, use)
	}

	limit += perPut
	if _, err := c.SetQuota(ctx, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "t1/ns/kv", "b", make([]byte, 500), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after raising the limit: %v", err)
	}
	if q, err := c.Quota(ctx, "t1"); err != nil || q.Usage.MemoryBytes != limit || q.Limits.MemoryBytes != limit {
		t.Fatalf("t1's quota: %+v, %v, want memory use and limit %d", q, err, limit)
	}
	if _, err := c.SetQuota(ctx, "t1", flowmesh.QuotaLimits{MemoryBytes: &limit}, false); !errors.Is(err, flowmesh.ErrInvalidArgument) {
		t.Fatalf("memory_bytes on a tenant: %v, want an invalid argument", err)
	}
}
