package metrics

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// TestTenantUsageIsBounded exports 250 tenants and finds the 100 largest
// by name, the others summed as _other, and limits for the named ones.
func TestTenantUsageIsBounded(t *testing.T) {
	var stats NodeStats
	var otherBytes int64
	for i := 0; i < 250; i++ {
		u := flowmesh.QuotaValues{StoredBytes: int64(i), Resources: 1, MemoryBytes: 10}
		if i < 150 {
			otherBytes += int64(i)
		}
		stats.Tenants = append(stats.Tenants, TenantUsage{Tenant: fmt.Sprintf("t%03d", i), Usage: u, Limits: flowmesh.QuotaValues{StoredBytes: 1000}})
	}
	r := New()
	if err := r.Register(NewNodeCollector(func(context.Context) (NodeStats, error) { return stats, nil }, time.Second)); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, r)
	for _, want := range []string{
		`flowmesh_tenant_usage{quota="stored_bytes",tenant="t249"} 249`,
		`flowmesh_tenant_usage{quota="stored_bytes",tenant="t150"} 150`,
		fmt.Sprintf(`flowmesh_tenant_usage{quota="stored_bytes",tenant="_other"} %d`, otherBytes),
		`flowmesh_tenant_usage{quota="resources",tenant="_other"} 150`,
		`flowmesh_tenant_usage{quota="memory_bytes",tenant="_other"} 1500`,
		`flowmesh_tenant_usage{quota="memory_bytes",tenant="t249"} 10`,
		`flowmesh_tenant_quota_limit{quota="stored_bytes",tenant="t249"} 1000`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `tenant="t149"`) {
		t.Error("a tenant beyond the 100 largest has its own series")
	}
	if n := strings.Count(out, "flowmesh_tenant_usage{"); n != 101*6 {
		t.Errorf("%d usage series, want %d", n, 101*6)
	}
	if strings.Contains(out, `flowmesh_tenant_quota_limit{quota="memory_bytes"`) {
		t.Error("the cluster-wide memory quota has a per-tenant limit series (it is the memory_bytes budget)")
	}
}
