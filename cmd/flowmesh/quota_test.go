package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// TestQuotaSetGet sets a tenant's quota with the CLI, hits it, and reads
// limits and use back as a table and as JSON.
func TestQuotaSetGet(t *testing.T) {
	ep := []string{"--endpoints", startNode(t)}
	fm := func(want int, args ...string) result { t.Helper(); return must(t, want, "", append(ep, args...)...) }

	fm(exitUsage, "quota", "set", "t1")                      // no field
	fm(exitUsage, "quota", "set", "t1", "--resources", "-1") // negative
	fm(exitUsage, "quota", "set", "bad/name", "--resources", "1")
	fm(0, "quota", "set", "*", "--kv-keys", "7")
	fm(0, "quota", "set", "t1", "--resources", "1", "--stored-bytes", "1000")
	fm(0, "kv", "create", "t1/ns1/a")
	r := fm(exitServer, "kv", "create", "t1/ns1/b")
	if !strings.Contains(r.stderr, "tenant t1: quota resources 1 exceeded: using 1, write needs 1") {
		t.Fatalf("stderr %q lacks the quota error", r.stderr)
	}
	fm(0, "kv", "put", "t1/ns1/a", "k", "value")

	r = fm(0, "quota", "get", "t1")
	for _, want := range []string{"stored_bytes  6     1000        tenant", "resources     1     1           tenant", "kv_keys       1     7           default", "queue_jobs    0     unlimited   default", "memory_bytes  4262  2147483648  cluster"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	var got struct {
		Tenant string
		Quotas []quotaRow
	}
	decode(t, fm(0, "-o", "json", "quota", "get", "t1").stdout, &got)
	mem := int64(flowmesh.MemoryPerResource + flowmesh.MemoryPerKVKey + 6)
	if got.Tenant != "t1" || len(got.Quotas) != 6 || got.Quotas[0] != (quotaRow{"stored_bytes", 6, 1000, "tenant"}) || got.Quotas[3] != (quotaRow{"kv_keys", 1, 7, "default"}) ||
		got.Quotas[5] != (quotaRow{"memory_bytes", mem, flowmesh.DefaultMemoryQuota, "cluster"}) {
		t.Fatalf("json: %+v", got)
	}
	// The memory quota is cluster-wide: set on "*", refused on a tenant.
	fm(0, "quota", "set", "*", "--memory-bytes", "1000000")
	r = fm(0, "quota", "get", "*")
	if want := fmt.Sprintf("memory_bytes  %d  1000000    cluster", mem); !strings.Contains(r.stdout, want) {
		t.Errorf("table lacks %q:\n%s", want, r.stdout)
	}
	r = fm(exitServer, "quota", "set", "t1", "--memory-bytes", "1000000")
	if !strings.Contains(r.stderr, "memory_bytes") {
		t.Errorf("stderr %q does not name memory_bytes", r.stderr)
	}
	// --reset drops the tenant's own fields; deleting frees the resource.
	fm(0, "quota", "set", "t1", "--reset")
	fm(0, "resources", "delete", "-y", "t1/ns1/a")
	decode(t, fm(0, "-o", "json", "quota", "get", "t1").stdout, &got)
	if got.Quotas[0] != (quotaRow{"stored_bytes", 0, 0, "default"}) || got.Quotas[1].Used != 0 {
		t.Fatalf("after reset and delete: %+v", got)
	}
}
