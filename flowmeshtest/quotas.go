package flowmeshtest

import (
	"context"
	"errors"
	"testing"

	"github.com/flowmesh/flowmesh"
)

var quotaTests = []subtest{
	{"ResourcesAndPartitions", testQuotaResources},
	{"StreamBytes", testQuotaStreamBytes},
	{"QueueJobs", testQuotaQueueJobs},
	{"KVKeysAndBytes", testQuotaKV},
	{"DefaultAndReset", testQuotaDefault},
	{"MemoryClusterWide", testQuotaMemory},
}

func i64(v int64) *int64 { return &v }

func setQuota(t *testing.T, tg Target, tenant string, l flowmesh.QuotaLimits) {
	t.Helper()
	_, err := tg.Quotas.SetQuota(testCtx(t), tenant, l, false)
	ok(t, "SetQuota "+tenant, err)
}

// wantQuota fails the test unless err is the tenant's quota error with
// these numbers, which also matches ErrLimitExceeded.
func wantQuota(t *testing.T, op string, err error, tenant, quota string, limit, using, needs int64) {
	t.Helper()
	qe, isQuota := errors.AsType[*flowmesh.QuotaError](err)
	if !isQuota {
		t.Fatalf("%s: got %v (%T), want a *flowmesh.QuotaError", op, err, err)
	}
	want := flowmesh.QuotaError{Tenant: tenant, Quota: quota, Limit: limit, Using: using, Needs: needs}
	if *qe != want {
		t.Fatalf("%s: got %+v, want %+v", op, *qe, want)
	}
	if !errors.Is(err, flowmesh.ErrLimitExceeded) {
		t.Fatalf("%s: %v does not match ErrLimitExceeded", op, err)
	}
}

func wantUsage(t *testing.T, tg Target, tenant string, want flowmesh.QuotaValues) {
	t.Helper()
	q, err := tg.Quotas.Quota(testCtx(t), tenant)
	ok(t, "Quota", err)
	if q.Usage != want {
		t.Fatalf("usage of %s: got %+v, want %+v", tenant, q.Usage, want)
	}
}

func testQuotaResources(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	setQuota(t, tg, tenant, flowmesh.QuotaLimits{Resources: i64(2), Partitions: i64(3)})
	_, err := tg.Resources.CreateStream(ctx, tenant, ns, "s1", 2)
	ok(t, "CreateStream s1", err)
	_, err = tg.Resources.CreateStream(ctx, tenant, ns, "s2", 2)
	wantQuota(t, "CreateStream s2", err, tenant, flowmesh.QuotaPartitions, 3, 2, 2)
	_, err = tg.Resources.CreateQueue(ctx, tenant, ns, "q", 1)
	ok(t, "CreateQueue", err)
	_, err = tg.Resources.CreateKVStore(ctx, tenant, ns, "kv")
	wantQuota(t, "CreateKVStore", err, tenant, flowmesh.QuotaResources, 2, 2, 1)
	rs, err := tg.Resources.ListResources(ctx, tenant, "")
	ok(t, "ListResources", err)
	if got := paths(rs); len(got) != 2 {
		t.Fatalf("refused creates changed the resources: %v", got)
	}
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{Resources: 2, Partitions: 2, MemoryBytes: 2*flowmesh.MemoryPerResource + 2*flowmesh.MemoryPerPartition})
	// Deleting frees quota.
	ok(t, "DeleteResource", tg.Resources.DeleteResource(ctx, flowmesh.JoinPath(tenant, ns, "s1")))
	_, err = tg.Resources.CreateKVStore(ctx, tenant, ns, "kv")
	ok(t, "CreateKVStore after delete", err)
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{Resources: 2, MemoryBytes: 2 * flowmesh.MemoryPerResource})
}

func testQuotaStreamBytes(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	setQuota(t, tg, tenant, flowmesh.QuotaLimits{StoredBytes: i64(100)})
	s, err := tg.Resources.CreateStream(ctx, tenant, ns, "s", 1)
	ok(t, "CreateStream", err)
	path := s.GetPath()
	_, err = tg.Streams.WriteEvents(ctx, path, []flowmesh.StreamEvent{{Payload: make([]byte, 50), Headers: map[string]string{"k": "vvvvv"}, Key: "kkkk"}})
	ok(t, "WriteEvents 60 bytes", err)
	// All or nothing: the second event would fit alone.
	_, err = tg.Streams.WriteEvents(ctx, path, []flowmesh.StreamEvent{{Payload: make([]byte, 30)}, {Payload: make([]byte, 30)}})
	wantQuota(t, "WriteEvents 2x30", err, tenant, flowmesh.QuotaStoredBytes, 100, 60, 60)
	msgs, err := tg.Streams.ReadFromOffset(ctx, path, 0, 0, 10)
	ok(t, "ReadFromOffset", err)
	if len(msgs) != 1 {
		t.Fatalf("a refused batch was (partly) written: %d events", len(msgs))
	}
	_, err = tg.Streams.WriteEvents(ctx, path, []flowmesh.StreamEvent{{Payload: make([]byte, 40)}})
	ok(t, "WriteEvents up to the limit", err)
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{StoredBytes: 100, Resources: 1, Partitions: 1, MemoryBytes: flowmesh.MemoryPerResource + flowmesh.MemoryPerPartition})
	ok(t, "DeleteResource", tg.Resources.DeleteResource(ctx, path))
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{})
}

func testQuotaQueueJobs(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	setQuota(t, tg, tenant, flowmesh.QuotaLimits{QueueJobs: i64(2), StoredBytes: i64(1000)})
	q, err := tg.Resources.CreateQueue(ctx, tenant, ns, "q", 1)
	ok(t, "CreateQueue", err)
	path := q.GetPath()
	for i := 0; i < 2; i++ {
		_, _, err := tg.Queues.Enqueue(ctx, path, []byte("job"), flowmesh.QueueEnqueueOptions{})
		ok(t, "Enqueue", err)
	}
	_, _, err = tg.Queues.Enqueue(ctx, path, []byte("job"), flowmesh.QueueEnqueueOptions{})
	wantQuota(t, "Enqueue a third", err, tenant, flowmesh.QuotaQueueJobs, 2, 2, 1)
	_, _, err = tg.Queues.Enqueue(ctx, path, nil, flowmesh.QueueEnqueueOptions{})
	wantQuota(t, "Enqueue an empty third", err, tenant, flowmesh.QuotaQueueJobs, 2, 2, 1)
	// An in-flight job still counts; an acked one does not.
	job, err := tg.Queues.Reserve(ctx, path, flowmesh.DefaultVisibilityTimeout)
	ok(t, "Reserve", err)
	_, _, err = tg.Queues.Enqueue(ctx, path, []byte("job"), flowmesh.QueueEnqueueOptions{})
	wantQuota(t, "Enqueue with one in flight", err, tenant, flowmesh.QuotaQueueJobs, 2, 2, 1)
	ok(t, "RemoveFromInFlight", tg.Queues.RemoveFromInFlight(ctx, path, job.ID))
	_, _, err = tg.Queues.Enqueue(ctx, path, []byte("job"), flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue after an ack", err)
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{StoredBytes: 6, Resources: 1, QueueJobs: 2, MemoryBytes: flowmesh.MemoryPerResource + 2*(flowmesh.MemoryPerJob+3)})
}

func testQuotaKV(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	setQuota(t, tg, tenant, flowmesh.QuotaLimits{KVKeys: i64(1), StoredBytes: i64(20)})
	kv, err := tg.Resources.CreateKVStore(ctx, tenant, ns, "kv")
	ok(t, "CreateKVStore", err)
	path := kv.GetPath()
	_, err = tg.KV.Put(ctx, path, "a", []byte("12345"), flowmesh.KVPutOptions{})
	ok(t, "Put a", err)
	_, err = tg.KV.Put(ctx, path, "b", []byte("1"), flowmesh.KVPutOptions{})
	wantQuota(t, "Put b", err, tenant, flowmesh.QuotaKVKeys, 1, 1, 1)
	// Overwriting needs no key, only the extra bytes.
	_, err = tg.KV.Put(ctx, path, "a", make([]byte, 20), flowmesh.KVPutOptions{})
	wantQuota(t, "Put a 20 bytes", err, tenant, flowmesh.QuotaStoredBytes, 20, 6, 15)
	e, err := tg.KV.Get(ctx, path, "a")
	ok(t, "Get a", err)
	if string(e.Value) != "12345" {
		t.Fatalf("a refused put changed the value to %q", e.Value)
	}
	_, err = tg.KV.Put(ctx, path, "a", make([]byte, 19), flowmesh.KVPutOptions{})
	ok(t, "Put a 19 bytes", err)
	_, err = tg.KV.Delete(ctx, path, "a", flowmesh.KVDeleteOptions{})
	ok(t, "Delete a", err)
	_, err = tg.KV.Put(ctx, path, "b", []byte("1"), flowmesh.KVPutOptions{})
	ok(t, "Put b after deleting a", err)
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{StoredBytes: 2, Resources: 1, KVKeys: 1, MemoryBytes: flowmesh.MemoryPerResource + flowmesh.MemoryPerKVKey + 2})
}

func testQuotaDefault(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	t.Cleanup(func() {
		// Later subtests share the node: clear the default again.
		if _, err := tg.Quotas.SetQuota(context.Background(), flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{}, true); err != nil {
			t.Errorf("reset the default quota: %v", err)
		}
	})
	setQuota(t, tg, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{Resources: i64(1)})
	_, err := tg.Resources.CreateKVStore(ctx, tenant, ns, "a")
	ok(t, "CreateKVStore a", err)
	_, err = tg.Resources.CreateKVStore(ctx, tenant, ns, "b")
	wantQuota(t, "CreateKVStore b under the default", err, tenant, flowmesh.QuotaResources, 1, 1, 1)
	// The tenant's own field wins; 0 is unlimited.
	setQuota(t, tg, tenant, flowmesh.QuotaLimits{Resources: i64(0)})
	_, err = tg.Resources.CreateKVStore(ctx, tenant, ns, "b")
	ok(t, "CreateKVStore b with the tenant's own unlimited field", err)
	q, err := tg.Quotas.Quota(ctx, tenant)
	ok(t, "Quota", err)
	if q.Limits.Resources != 0 || q.Set.Resources == nil || *q.Set.Resources != 0 {
		t.Fatalf("quota %+v: want the tenant's own unlimited resources", q)
	}
	// Reset drops the tenant's fields: the default applies again.
	_, err = tg.Quotas.SetQuota(ctx, tenant, flowmesh.QuotaLimits{}, true)
	ok(t, "SetQuota reset", err)
	_, err = tg.Resources.CreateKVStore(ctx, tenant, ns, "c")
	wantQuota(t, "CreateKVStore c after reset", err, tenant, flowmesh.QuotaResources, 1, 2, 1)
	// Bad input changes nothing.
	_, err = tg.Quotas.SetQuota(ctx, tenant, flowmesh.QuotaLimits{KVKeys: i64(-5)}, false)
	wantErr(t, "SetQuota negative", err, flowmesh.ErrInvalidArgument)
	_, err = tg.Quotas.SetQuota(ctx, "no/slash", flowmesh.QuotaLimits{KVKeys: i64(5)}, false)
	wantErr(t, "SetQuota bad tenant", err, flowmesh.ErrInvalidArgument)
	q, err = tg.Quotas.Quota(ctx, tenant)
	ok(t, "Quota", err)
	if q.Set != (flowmesh.QuotaLimits{}) {
		t.Fatalf("refused updates changed the quota: %+v", q.Set)
	}
}

// testQuotaMemory: the cluster-wide memory quota is on by default; a write
// past it is refused (for any tenant: it bounds all of them together) with
// the limit, all tenants' use and the need, and changes nothing; the
// cluster admin raises it and the write goes through.
func testQuotaMemory(t *testing.T, tg Target) {
	ctx := testCtx(t)
	tenant, ns := scope(t)
	t.Cleanup(func() {
		// Later subtests share the node: back to the built-in default.
		if _, err := tg.Quotas.SetQuota(context.Background(), flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{}, true); err != nil {
			t.Errorf("reset the default quota: %v", err)
		}
	})
	kv, err := tg.Resources.CreateKVStore(ctx, tenant, ns, "kv")
	ok(t, "CreateKVStore", err)
	path := kv.GetPath()
	def, err := tg.Quotas.Quota(ctx, flowmesh.DefaultQuotaTenant)
	ok(t, "Quota *", err)
	if def.Limits.MemoryBytes != flowmesh.DefaultMemoryQuota || def.Usage.MemoryBytes < flowmesh.MemoryPerResource {
		t.Fatalf("quota of %q: %+v, want the built-in memory quota %d and this KV store's use", flowmesh.DefaultQuotaTenant, def, flowmesh.DefaultMemoryQuota)
	}
	use := def.Usage.MemoryBytes
	need := int64(flowmesh.MemoryPerKVKey + 1 + 100)
	limit := use + need
	setQuota(t, tg, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit})
	_, err = tg.KV.Put(ctx, path, "a", make([]byte, 100), flowmesh.KVPutOptions{})
	ok(t, "Put a up to the memory quota", err)
	_, err = tg.KV.Put(ctx, path, "b", make([]byte, 100), flowmesh.KVPutOptions{})
	wantQuota(t, "Put b past the memory quota", err, flowmesh.DefaultQuotaTenant, flowmesh.QuotaMemoryBytes, limit, limit, need)
	_, err = tg.KV.Get(ctx, path, "b")
	wantErr(t, "Get the refused key", err, flowmesh.ErrNotFound)
	_, err = tg.Resources.CreateQueue(ctx, tenant+"x", ns, "q", 1)
	wantQuota(t, "CreateQueue of another tenant", err, flowmesh.DefaultQuotaTenant, flowmesh.QuotaMemoryBytes, limit, limit, flowmesh.MemoryPerResource)

	limit += need
	setQuota(t, tg, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit})
	_, err = tg.KV.Put(ctx, path, "b", make([]byte, 100), flowmesh.KVPutOptions{})
	ok(t, "Put b after raising the memory quota", err)
	wantUsage(t, tg, tenant, flowmesh.QuotaValues{StoredBytes: 202, Resources: 1, KVKeys: 2, MemoryBytes: flowmesh.MemoryPerResource + 2*need})
	_, err = tg.Quotas.SetQuota(ctx, tenant, flowmesh.QuotaLimits{MemoryBytes: &limit}, false)
	wantErr(t, "SetQuota memory_bytes of a tenant", err, flowmesh.ErrInvalidArgument)
}
