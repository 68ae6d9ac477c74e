package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// memoryQuotaError checks err is the cluster-wide memory quota's refusal
// with the given limit, use and need.
func memoryQuotaError(t *testing.T, err error, limit, using, needs int64) {
	t.Helper()
	qe, ok := errors.AsType[*flowmesh.QuotaError](err)
	if !ok {
		t.Fatalf("got %v, want the memory quota's QuotaError", err)
	}
	want := flowmesh.QuotaError{Tenant: flowmesh.DefaultQuotaTenant, Quota: flowmesh.QuotaMemoryBytes, Limit: limit, Using: using, Needs: needs}
	if *qe != want {
		t.Fatalf("quota error %+v, want %+v", *qe, want)
	}
	if !errors.Is(err, flowmesh.ErrLimitExceeded) {
		t.Fatalf("%v does not match ErrLimitExceeded", err)
	}
}

// startEmbedded starts a single-node embedded node in a temporary dir.
func startEmbedded(t *testing.T) *storage.Storage {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = quietLogger()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s
}

// TestMemoryQuotaEmbedded: the embedded node has the cluster-wide memory
// quota on by default; a write past it is refused with the limit, the use
// and the need and changes nothing; raising the limit lets it through.
func TestMemoryQuotaEmbedded(t *testing.T) {
	s := startEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	def, err := s.Quota(ctx, flowmesh.DefaultQuotaTenant)
	if err != nil {
		t.Fatal(err)
	}
	if def.Limits.MemoryBytes != flowmesh.DefaultMemoryQuota || def.Set.MemoryBytes != nil || def.Usage.MemoryBytes != 0 {
		t.Fatalf("fresh node: %+v, want the default memory quota %d and no use", def, flowmesh.DefaultMemoryQuota)
	}
	kv, err := s.MetaStore().CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.MetaStore().CreateQueue(ctx, "t2", "ns", "q", 1)
	if err != nil {
		t.Fatal(err)
	}
	use, _ := s.Memory()
	if use != 2*flowmesh.MemoryPerResource {
		t.Fatalf("memory use %d after two creates, want %d", use, 2*flowmesh.MemoryPerResource)
	}
	value := make([]byte, 1000)
	perPut := int64(flowmesh.MemoryPerKVKey + 2 + len(value))
	limit := use + perPut + 10
	if _, err := s.SetQuota(ctx, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVManager().Put(ctx, kv.GetPath(), "k1", value, flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	use += perPut
	_, err = s.KVManager().Put(ctx, kv.GetPath(), "k2", value, flowmesh.KVPutOptions{})
	memoryQuotaError(t, err, limit, use, perPut)
	if _, err := s.KVManager().Get(ctx, kv.GetPath(), "k2"); !errors.Is(err, flowmesh.ErrNotFound) {
		t.Fatalf("the refused key: %v, want not found", err)
	}
	// Another tenant's queue shares the limit.
	_, _, err = s.QueueManager().Enqueue(ctx, q.GetPath(), value, flowmesh.QueueEnqueueOptions{})
	memoryQuotaError(t, err, limit, use, int64(flowmesh.MemoryPerJob+len(value)))
	if st, err := s.QueueManager().Stats(ctx, q.GetPath()); err != nil || st.Ready != 0 {
		t.Fatalf("queue after the refused enqueue: %+v, %v", st, err)
	}
	if got, _ := s.Memory(); got != use {
		t.Fatalf("memory use %d after refusals, want %d", got, use)
	}
	def, err = s.Quota(ctx, flowmesh.DefaultQuotaTenant)
	if err != nil {
		t.Fatal(err)
	}
	if def.Usage.MemoryBytes != use || def.Limits.MemoryBytes != limit {
		t.Fatalf("quota of %q: %+v, want use %d of %d", flowmesh.DefaultQuotaTenant, def, use, limit)
	}

	limit += 10 * perPut
	if _, err := s.SetQuota(ctx, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVManager().Put(ctx, kv.GetPath(), "k2", value, flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after raising the limit: %v", err)
	}
	if _, _, err := s.QueueManager().Enqueue(ctx, q.GetPath(), value, flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatalf("enqueue after raising the limit: %v", err)
	}
	// A tenant cannot hold a memory quota of its own.
	if _, err := s.SetQuota(ctx, "t1", flowmesh.QuotaLimits{MemoryBytes: &limit}, false); !errors.Is(err, flowmesh.ErrInvalidArgument) {
		t.Fatalf("memory_bytes on a tenant: %v, want an invalid argument", err)
	}
}

// TestMemoryQuotaReplicasAgree: in a three-node cluster configured with a
// memory quota, the leader proposes it, every replica refuses the same
// write and holds the same use, and a raised limit applies everywhere.
func TestMemoryQuotaReplicasAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	limit := int64(3*flowmesh.MemoryPerResource + 5000)
	nodes := startCluster(t, 3, func(c *storage.Config) { c.DefaultQuota.MemoryBytes = &limit })
	for _, n := range nodes {
		waitFor(t, 15*time.Second, "the configured memory quota on "+n.id, func() error {
			if _, l := n.s.Memory(); l != limit {
				return fmt.Errorf("memory quota %d", l)
			}
			return nil
		})
	}
	leader := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := leader.s.MetaStore().CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	puts := 0
	for ; puts < 100; puts++ {
		_, err = leader.s.KVManager().Put(ctx, kv.GetPath(), fmt.Sprintf("k%02d", puts), make([]byte, 997), flowmesh.KVPutOptions{})
		if err != nil {
			break
		}
	}
	perPut := int64(flowmesh.MemoryPerKVKey + 3 + 997)
	use := flowmesh.MemoryPerResource + int64(puts)*perPut
	if wantPuts := int((limit - flowmesh.MemoryPerResource) / perPut); puts != wantPuts {
		t.Fatalf("%d puts before the refusal, want %d", puts, wantPuts)
	}
	memoryQuotaError(t, err, limit, use, perPut)
	want, err := leader.s.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitFor(t, 15*time.Second, "the leader's state on "+n.id, func() error {
			if got, err := n.s.StateHash(); err != nil || got != want {
				return fmt.Errorf("state hash %s (%v), want %s", got, err, want)
			}
			if u, l := n.s.Memory(); u != use || l != limit {
				return fmt.Errorf("memory %d of %d, want %d of %d", u, l, use, limit)
			}
			return nil
		})
	}
	// Raised on the leader: a follower applies the new limit too.
	var follower *clusterNode
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	limit += perPut
	if _, err := leader.s.SetQuota(ctx, flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &limit}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := leader.s.KVManager().Put(ctx, kv.GetPath(), fmt.Sprintf("k%02d", puts), make([]byte, 997), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after raising the limit: %v", err)
	}
	use += perPut
	waitFor(t, 15*time.Second, "the raised limit and the put on "+follower.id, func() error {
		if u, l := follower.s.Memory(); u != use || l != limit {
			return fmt.Errorf("memory %d of %d, want %d of %d", u, l, use, limit)
		}
		return nil
	})
}

// TestListDeadIsBounded: ListDead with limit 0 returns at most
// MaxReadMessages dead jobs, not all of them.
func TestListDeadIsBounded(t *testing.T) {
	s := startEmbedded(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q, err := s.MetaStore().CreateQueue(ctx, "t", "ns", "q", 1, flowmesh.WithMaxAttempts(1))
	if err != nil {
		t.Fatal(err)
	}
	path := q.GetPath()
	qb := s.QueueManager().(flowmesh.QueueBatcher)
	n := flowmesh.MaxReadMessages + 1
	for i := 0; i < n; i += flowmesh.MaxQueueBatch {
		items := make([]flowmesh.EnqueueItem, min(flowmesh.MaxQueueBatch, n-i))
		for j := range items {
			items[j].Payload = []byte("x")
		}
		if _, err := qb.EnqueueBatch(ctx, path, items); err != nil {
			t.Fatal(err)
		}
	}
	// Each reservation's jobs die (one attempt) once their millisecond of
	// visibility passes, at the next reservation.
	waitFor(t, 60*time.Second, "every job dead", func() error {
		if _, err := qb.ReserveBatch(ctx, path, flowmesh.MaxQueueBatch, time.Millisecond); err != nil {
			return err
		}
		st, err := s.QueueManager().Stats(ctx, path)
		if err != nil || st.Dead != n {
			return fmt.Errorf("stats %+v (%v), want %d dead", st, err, n)
		}
		return nil
	})
	dead, err := s.QueueManager().ListDead(ctx, path, 0)
	if err != nil || len(dead) != flowmesh.MaxReadMessages {
		t.Fatalf("ListDead with limit 0: %d jobs, %v; want %d", len(dead), err, flowmesh.MaxReadMessages)
	}
	if _, err := s.QueueManager().ListDead(ctx, path, n); !errors.Is(err, flowmesh.ErrInvalidArgument) {
		t.Fatalf("ListDead with limit %d: %v, want an invalid argument", n, err)
	}
}
