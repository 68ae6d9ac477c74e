package fsm

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/segment"
)

// recount counts every tenant's use from the stores, the slow way.
func recount(t *testing.T, f *FSM) map[string]usage {
	t.Helper()
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]usage{}
	for _, r := range f.resources {
		u := out[r.meta.Tenant]
		u.Resources++
		u.MemoryBytes += flowmesh.MemoryPerResource
		switch {
		case r.stream != nil:
			u.Partitions += int64(len(r.stream.parts))
			u.MemoryBytes += int64(len(r.stream.parts)) * flowmesh.MemoryPerPartition
			for _, p := range r.stream.parts {
				err := forEachRecord(p.log, max(p.earliest, p.log.EarliestOffset()), func(rec segment.Record) error {
					u.StoredBytes += recordBytes(rec)
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
		case r.queue != nil:
			for _, j := range r.queue.jobs {
				u.StoredBytes += int64(len(j.payload))
				u.QueueJobs++
				u.MemoryBytes += int64(len(j.payload)) + flowmesh.MemoryPerJob
			}
		case r.kv != nil:
			r.kv.tree.Ascend(func(it *kvItem) bool {
				u.StoredBytes += int64(len(it.key) + len(it.value))
				u.KVKeys++
				u.MemoryBytes += int64(len(it.key)+len(it.value)) + flowmesh.MemoryPerKVKey
				return true
			})
		}
		out[r.meta.Tenant] = u
	}
	for k := range f.groups {
		tenant := f.resources[k.path].meta.Tenant
		u := out[tenant]
		u.MemoryBytes += int64(len(k.path)+len(k.group)) + flowmesh.MemoryPerGroupOffset
		out[tenant] = u
	}
	return out
}

func kept(f *FSM) map[string]usage {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string]usage{}
	for t, u := range f.usage {
		out[t] = *u
	}
	return out
}

func checkUsage(t *testing.T, f *FSM, when string) {
	t.Helper()
	want, got := recount(t, f), kept(f)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: usage kept %v, recounted %v", when, got, want)
	}
	var all int64
	for _, u := range want {
		all += u.MemoryBytes
	}
	if use, _ := f.Memory(); use != all {
		t.Fatalf("%s: cluster memory use kept %d, recounted %d", when, use, all)
	}
}

func quotaCmd(tenant string, reset bool, l *fsmpb.QuotaLimits) *fsmpb.Command {
	return &fsmpb.Command{Op: &fsmpb.Command_SetQuota{SetQuota: &fsmpb.SetQuota{Tenant: tenant, Limits: l, Reset_: reset}}}
}

// TestUsageMatchesRecount drives random writes, acks, purges, trims, key
// deletes, TTL expiries and resource deletes, and checks after each step
// that the use Apply keeps equals a recount of the stores, and that it
// survives a restart (checkpointed, and counted from an old checkpoint
// without usage).
func TestUsageMatchesRecount(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	h := openHarness(t, dir)
	populate(h, 20)
	dlq := createCmd(flowmesh.KindQueue, "dlq")
	q2 := createCmd(flowmesh.KindQueue, "q2")
	q2.GetCreateResource().Resource.MaxAttempts = 1
	q2.GetCreateResource().Resource.DeadLetterQueue = "t/ns/dlq"
	h.mustApply(dlq)
	h.mustApply(q2)
	for i := 0; i < 300; i++ {
		p := make([]byte, rng.IntN(200))
		var cmd *fsmpb.Command
		switch rng.IntN(11) {
		case 0:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: p, Headers: []*fsmpb.Header{{Key: "h", Value: "v"}}}, {Payload: p, Partition: 1}}}}}
		case 1:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_TrimPartition{TrimPartition: &fsmpb.TrimPartition{Path: "t/ns/s", Partition: int32(rng.IntN(2)), Before: uint64(rng.IntN(40))}}}
		case 2:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q2", Payload: p}}}
		case 3:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q2", Visibility: 1}}}
		case 4:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: &fsmpb.EnqueueBatch{Path: "t/ns/q", Jobs: []*fsmpb.EnqueueItem{{Payload: p}, {Payload: p, DedupId: "d"}}}}}
		case 5:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_ReserveBatch{ReserveBatch: &fsmpb.ReserveBatch{Path: "t/ns/q", Max: 3}}}
		case 6:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_Purge{Purge: &fsmpb.Purge{Path: "t/ns/dlq"}}}
		case 7:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", rng.IntN(10)), Value: p, Ttl: int64(rng.IntN(2)) * 3000}}}
		case 8:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_KvDelete{KvDelete: &fsmpb.KVDelete{Path: "t/ns/kv", Key: fmt.Sprintf("k%d", rng.IntN(10))}}}
		case 9:
			for _, c := range h.f.PlanExpiry(h.stamp, 100) {
				h.apply(&fsmpb.Command{Op: &fsmpb.Command_KvExpire{KvExpire: c}})
			}
			continue
		case 10:
			cmd = &fsmpb.Command{Op: &fsmpb.Command_CommitOffset{CommitOffset: &fsmpb.CommitOffset{Path: "t/ns/s", Group: fmt.Sprintf("g%d", rng.IntN(4)), Partition: int32(rng.IntN(2)), Offset: uint64(i)}}}
		}
		h.apply(cmd)
		checkUsage(t, h.f, fmt.Sprintf("step %d", i))
	}
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_DeleteResource{DeleteResource: &fsmpb.DeleteResource{Path: "t/ns/kv"}}})
	checkUsage(t, h.f, "after delete")
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_CommitOffset{CommitOffset: &fsmpb.CommitOffset{Path: "t/ns/s", Group: "kept", Offset: 1}}})
	checkUsage(t, h.f, "after a commit")
	before := kept(h.f)
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	h = openHarness(t, dir)
	if got := kept(h.f); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("after restart: usage %v, want %v", got, before)
	}
	checkUsage(t, h.f, "after restart")
	h.f.Close()

	// A checkpoint from before quotas: the stream bytes are counted on open.
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		t.Fatal(err)
	}
	cp := &fsmpb.Checkpoint{}
	if err := proto.Unmarshal(b, cp); err != nil {
		t.Fatal(err)
	}
	cp.UsageCounted = false
	for _, p := range cp.Partitions {
		p.Bytes = 0
	}
	if b, err = proto.Marshal(cp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, checkpointFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	h = openHarness(t, dir)
	if got := kept(h.f); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("from an old checkpoint: usage %v, want %v", got, before)
	}
}

// TestQuotaRefusesAndChangesNothing hits every quota and checks the error
// names it, its limit, the use and the need, and that the state hash did
// not move; deleting frees quota.
func TestQuotaRefusesAndChangesNothing(t *testing.T) {
	h := openHarness(t, t.TempDir())
	i64 := proto.Int64
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{Resources: i64(3)}))
	h.mustApply(quotaCmd("t", false, &fsmpb.QuotaLimits{StoredBytes: i64(100), Partitions: i64(2), KvKeys: i64(2), QueueJobs: i64(2)}))
	h.mustApply(createCmd(flowmesh.KindStream, "s")) // 2 partitions
	h.mustApply(createCmd(flowmesh.KindQueue, "q"))
	h.mustApply(createCmd(flowmesh.KindKV, "kv"))

	refused := func(cmd *fsmpb.Command, quota string, limit, using, needs int64) {
		t.Helper()
		hash := stateHash(t, h.f)
		res := h.apply(cmd)
		qe, ok := errors.AsType[*flowmesh.QuotaError](res[0].(error))
		if !ok {
			t.Fatalf("got %v, want a QuotaError", res[0])
		}
		want := flowmesh.QuotaError{Tenant: "t", Quota: quota, Limit: limit, Using: using, Needs: needs}
		if *qe != want {
			t.Fatalf("got %+v, want %+v", *qe, want)
		}
		if !errors.Is(qe, flowmesh.ErrLimitExceeded) {
			t.Fatal("a QuotaError does not match ErrLimitExceeded")
		}
		if got := stateHash(t, h.f); got != hash {
			t.Fatal("a refused write changed the state")
		}
	}
	refused(createCmd(flowmesh.KindQueue, "q2"), flowmesh.QuotaResources, 3, 3, 1)
	// The tenant's own field overrides the default.
	h.mustApply(quotaCmd("t", false, &fsmpb.QuotaLimits{Resources: i64(10)}))
	refused(createCmd(flowmesh.KindStream, "s2"), flowmesh.QuotaPartitions, 2, 2, 2)

	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: make([]byte, 40)}}}}})
	refused(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s",
		Events: []*fsmpb.Event{{Payload: make([]byte, 30)}, {Payload: make([]byte, 30), Key: "k"}}}}}, flowmesh.QuotaStoredBytes, 100, 40, 61)
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: make([]byte, 10)}}})
	refused(&fsmpb.Command{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: &fsmpb.EnqueueBatch{Path: "t/ns/q",
		Jobs: []*fsmpb.EnqueueItem{{Payload: []byte("a")}, {Payload: []byte("b")}}}}}, flowmesh.QuotaQueueJobs, 2, 1, 2)
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "a", Value: []byte("1")}}})
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "b", Value: []byte("1")}}})
	refused(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "c", Value: []byte("1")}}}, flowmesh.QuotaKVKeys, 2, 2, 1)
	// Overwriting a key needs no new key, only the extra bytes: 40+10+4 used.
	refused(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "a", Value: make([]byte, 48)}}}, flowmesh.QuotaStoredBytes, 100, 54, 47)
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "a", Value: make([]byte, 47)}}})

	// Deleting frees quota.
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_DeleteResource{DeleteResource: &fsmpb.DeleteResource{Path: "t/ns/s"}}})
	h.mustApply(createCmd(flowmesh.KindStream, "s2"))
	mem := int64(3*flowmesh.MemoryPerResource + 2*flowmesh.MemoryPerPartition + (10 + flowmesh.MemoryPerJob) + (2 + 48 + 2*flowmesh.MemoryPerKVKey))
	if q := h.f.Quota("t"); q.Usage != (usage{StoredBytes: 10 + 2 + 48, Resources: 3, Partitions: 2, KVKeys: 2, QueueJobs: 1, MemoryBytes: mem}) {
		t.Fatalf("usage %+v", q.Usage)
	}
	// 0 is unlimited; reset drops the tenant's own fields.
	h.mustApply(quotaCmd("t", true, &fsmpb.QuotaLimits{KvKeys: i64(0)}))
	q := h.f.Quota("t")
	if q.Limits != (usage{Resources: 3, MemoryBytes: flowmesh.DefaultMemoryQuota}) || q.Set.KVKeys == nil || *q.Set.KVKeys != 0 || q.Set.StoredBytes != nil {
		t.Fatalf("after reset: %+v", q)
	}
	// Quotas are part of the state hash.
	hash := stateHash(t, h.f)
	h.mustApply(quotaCmd("other", false, &fsmpb.QuotaLimits{KvKeys: i64(5)}))
	if stateHash(t, h.f) == hash {
		t.Fatal("a quota change did not change the state hash")
	}
	res := h.apply(quotaCmd("t", false, &fsmpb.QuotaLimits{KvKeys: i64(-1)}))
	if err, ok := res[0].(error); !ok || !errors.Is(err, flowmesh.ErrInvalidArgument) {
		t.Fatalf("negative limit: %v", res[0])
	}
}
