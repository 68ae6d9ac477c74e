package fsm

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func kvPut(path, key string, value []byte) *fsmpb.Command {
	return &fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: path, Key: key, Value: value}}}
}

// TestMemoryQuotaIsClusterWide fills the cluster-wide memory quota from two
// tenants and checks that every kind of growth past it is refused with a
// QuotaError naming the cluster, the limit, all tenants' use and the need,
// that a refusal changes nothing, that frees and a raised limit let writes
// through again, and that it is on by default.
func TestMemoryQuotaIsClusterWide(t *testing.T) {
	h := openHarness(t, t.TempDir())
	if use, limit := h.f.Memory(); use != 0 || limit != flowmesh.DefaultMemoryQuota {
		t.Fatalf("new FSM: memory %d of %d, want 0 of the default %d", use, limit, flowmesh.DefaultMemoryQuota)
	}
	h.mustApply(createCmd(flowmesh.KindKV, "kv"), createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindStream, "s"))
	other := createCmd(flowmesh.KindKV, "kv")
	other.GetCreateResource().Resource.Tenant = "u"
	h.mustApply(other)
	base := int64(4*flowmesh.MemoryPerResource + 2*flowmesh.MemoryPerPartition)
	if use, _ := h.f.Memory(); use != base {
		t.Fatalf("after creates: memory %d, want %d", use, base)
	}
	limit := base + 3*(flowmesh.MemoryPerKVKey+1+100)
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{MemoryBytes: proto.Int64(limit)}))
	h.mustApply(kvPut("t/ns/kv", "a", make([]byte, 100)), kvPut("u/ns/kv", "b", make([]byte, 100)))

	refused := func(what string, cmd *fsmpb.Command, needs int64) {
		t.Helper()
		hash := stateHash(t, h.f)
		use, _ := h.f.Memory()
		res := h.apply(cmd)
		err, _ := res[0].(error)
		qe, ok := errors.AsType[*flowmesh.QuotaError](err)
		if !ok {
			t.Fatalf("%s: got %v, want a QuotaError", what, res[0])
		}
		want := flowmesh.QuotaError{Tenant: flowmesh.DefaultQuotaTenant, Quota: flowmesh.QuotaMemoryBytes, Limit: limit, Using: use, Needs: needs}
		if *qe != want {
			t.Fatalf("%s: %+v, want %+v", what, *qe, want)
		}
		if !errors.Is(err, flowmesh.ErrLimitExceeded) {
			t.Fatalf("%s: %v does not match ErrLimitExceeded", what, err)
		}
		if got := stateHash(t, h.f); got != hash {
			t.Fatalf("%s: a refused write changed the state", what)
		}
		if after, _ := h.f.Memory(); after != use {
			t.Fatalf("%s: memory %d after a refusal, was %d", what, after, use)
		}
	}
	// Room for one more small key; tenant t's own use is well under it.
	h.mustApply(kvPut("t/ns/kv", "c", make([]byte, 50)))
	refused("a put of another tenant", kvPut("u/ns/kv", "d", make([]byte, 100)), flowmesh.MemoryPerKVKey+1+100)
	refused("an overwrite that grows", kvPut("t/ns/kv", "c", make([]byte, 200)), 150)
	refused("an enqueue", &fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: make([]byte, 10)}}}, flowmesh.MemoryPerJob+10)
	refused("an enqueue batch", &fsmpb.Command{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: &fsmpb.EnqueueBatch{Path: "t/ns/q",
		Jobs: []*fsmpb.EnqueueItem{{Payload: []byte("a")}, {Payload: []byte("b")}}}}}, 2*(flowmesh.MemoryPerJob+1))
	refused("a create", createCmd(flowmesh.KindKV, "kv2"), flowmesh.MemoryPerResource)
	refused("a new group offset", &fsmpb.Command{Op: &fsmpb.Command_CommitOffset{CommitOffset: &fsmpb.CommitOffset{Path: "t/ns/s", Group: "g", Offset: 1}}},
		int64(len("t/ns/s")+len("g"))+flowmesh.MemoryPerGroupOffset)
	// Stream events live on disk: not charged.
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: &fsmpb.WriteEvents{Path: "t/ns/s", Events: []*fsmpb.Event{{Payload: make([]byte, 1000)}}}}})
	// A shrinking overwrite and a delete are never refused, and free memory.
	h.mustApply(kvPut("t/ns/kv", "c", nil))
	h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_KvDelete{KvDelete: &fsmpb.KVDelete{Path: "u/ns/kv", Key: "b"}}})
	h.mustApply(kvPut("u/ns/kv", "d", make([]byte, 100)))
	checkUsage(t, h.f, "after frees")

	// Raising the limit lets the refused write through; 0 is unlimited.
	refused("a put at the limit", kvPut("t/ns/kv", "e", make([]byte, 1000)), flowmesh.MemoryPerKVKey+1+1000)
	limit += 10_000
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{MemoryBytes: proto.Int64(limit)}))
	h.mustApply(kvPut("t/ns/kv", "e", make([]byte, 1000)))
	q := h.f.Quota(flowmesh.DefaultQuotaTenant)
	if use, _ := h.f.Memory(); q.Usage.MemoryBytes != use || q.Limits.MemoryBytes != limit || q.Set.MemoryBytes == nil {
		t.Fatalf("quota of %q: %+v, want use %d and limit %d", flowmesh.DefaultQuotaTenant, q, use, limit)
	}
	if tq := h.f.Quota("u"); tq.Limits.MemoryBytes != limit || tq.Usage.MemoryBytes != flowmesh.MemoryPerResource+flowmesh.MemoryPerKVKey+1+100 {
		t.Fatalf("quota of u: %+v", tq)
	}
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{MemoryBytes: proto.Int64(0)}))
	h.mustApply(kvPut("t/ns/kv", "f", make([]byte, 100_000)))
	// Reset: the default again.
	h.mustApply(quotaCmd("*", true, nil))
	if _, l := h.f.Memory(); l != flowmesh.DefaultMemoryQuota {
		t.Fatalf("after reset: limit %d, want the default %d", l, flowmesh.DefaultMemoryQuota)
	}
	// The limit is cluster-wide: a tenant cannot have its own.
	res := h.apply(quotaCmd("t", false, &fsmpb.QuotaLimits{MemoryBytes: proto.Int64(5)}))
	if err, ok := res[0].(error); !ok || !errors.Is(err, flowmesh.ErrInvalidArgument) {
		t.Fatalf("memory_bytes on a tenant: %v, want an invalid argument", res[0])
	}
	checkUsage(t, h.f, "end")
}

// TestMemoryQuotaSurvivesRestart checks that the limit and the use come
// back after a restart, from the checkpoint and the stores.
func TestMemoryQuotaSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	h := openHarness(t, dir)
	populate(h, 30)
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{MemoryBytes: proto.Int64(1 << 20)}))
	use, limit := h.f.Memory()
	if err := h.f.Close(); err != nil {
		t.Fatal(err)
	}
	h = openHarness(t, dir)
	if u, l := h.f.Memory(); u != use || l != limit {
		t.Fatalf("after restart: memory %d of %d, want %d of %d", u, l, use, limit)
	}
	checkUsage(t, h.f, "after restart")
}

// TestMaxQuotaTenants: tenants with a quota of their own are capped; the
// default, updates and resets of existing ones are not.
func TestMaxQuotaTenants(t *testing.T) {
	h := openHarness(t, t.TempDir())
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(1)}))
	cmds := make([]*fsmpb.Command, 0, 1000)
	for i := 0; i < flowmesh.MaxQuotaTenants; i++ {
		cmds = append(cmds, quotaCmd(fmt.Sprintf("t%d", i), false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(5)}))
		if len(cmds) == cap(cmds) {
			h.mustApply(cmds...)
			cmds = cmds[:0]
		}
	}
	h.mustApply(cmds...)
	res := h.apply(quotaCmd("one-more", false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(5)}))
	le, ok := errors.AsType[*flowmesh.LimitError](res[0].(error))
	if !ok || le.Limit != flowmesh.MaxQuotaTenants || le.Got != flowmesh.MaxQuotaTenants+1 {
		t.Fatalf("tenant %d: %v, want a LimitError", flowmesh.MaxQuotaTenants+1, res[0])
	}
	h.mustApply(quotaCmd("t7", false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(6)}))
	h.mustApply(quotaCmd("*", false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(2)}))
	h.mustApply(quotaCmd("t7", true, nil)) // drops t7's entry
	h.mustApply(quotaCmd("one-more", false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(5)}))
}

// TestMemoryCharges measures what a KV key and a queue job cost in the
// heap beyond their bytes, and checks the fixed charges of limits.go
// cover it (and are not wildly above it).
func TestMemoryCharges(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	const n = 20000
	measure := func(what string, fill func(h *harness)) float64 {
		h := openHarness(t, t.TempDir())
		kv := createCmd(flowmesh.KindKV, "kv")
		kv.GetCreateResource().Resource.HistoryRevisions = 1 // history is bounded on its own
		h.mustApply(kv, createCmd(flowmesh.KindQueue, "q"))
		// Two collections each: the first only moves sync.Pool contents
		// to their victim caches.
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		fill(h)
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		use, _ := h.f.Memory()
		per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		t.Logf("%s: %.0f heap bytes per item, charged %.0f", what, per, float64(use-2*flowmesh.MemoryPerResource)/n)
		runtime.KeepAlive(h)
		return per
	}
	value := make([]byte, 32)
	kvPer := measure("KV key (8-byte key, 32-byte value)", func(h *harness) {
		cmds := make([]*fsmpb.Command, 0, 100)
		for i := 0; i < n; i++ {
			cmds = append(cmds, kvPut("t/ns/kv", fmt.Sprintf("k%07d", i), value))
			if len(cmds) == cap(cmds) {
				h.mustApply(cmds...)
				cmds = cmds[:0]
			}
		}
	}) - float64(8+32)
	ttlPer := measure("KV key with a TTL", func(h *harness) {
		cmds := make([]*fsmpb.Command, 0, 100)
		for i := 0; i < n; i++ {
			c := kvPut("t/ns/kv", fmt.Sprintf("k%07d", i), value)
			c.GetKvPut().Ttl = int64(flowmesh.MaxTTL)
			cmds = append(cmds, c)
			if len(cmds) == cap(cmds) {
				h.mustApply(cmds...)
				cmds = cmds[:0]
			}
		}
	}) - float64(8+32)
	jobPer := measure("queue job (32-byte payload)", func(h *harness) {
		cmds := make([]*fsmpb.Command, 0, 100)
		for i := 0; i < n; i++ {
			cmds = append(cmds, &fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: value}}})
			if len(cmds) == cap(cmds) {
				h.mustApply(cmds...)
				cmds = cmds[:0]
			}
		}
	}) - 32
	for _, c := range []struct {
		what        string
		per, charge float64
	}{{"KV key", kvPer, flowmesh.MemoryPerKVKey}, {"KV key with a TTL", ttlPer, flowmesh.MemoryPerKVKey}, {"queue job", jobPer, flowmesh.MemoryPerJob}} {
		if c.per > c.charge || c.per < c.charge/4 {
			t.Errorf("%s: %.0f heap bytes beyond its own, charged %.0f: want the charge within [measured, 4x measured]", c.what, c.per, c.charge)
		}
	}
}
