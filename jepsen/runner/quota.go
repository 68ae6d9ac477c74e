package runner

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flowmesh/flowmesh"
)

// quotaFields names the quota fields as the CLI does (flowmesh quota set).
func quotaFields(q *flowmesh.QuotaLimits) []struct {
	name string
	v    **int64
} {
	return []struct {
		name string
		v    **int64
	}{
		{"stored-bytes", &q.StoredBytes}, {"resources", &q.Resources}, {"partitions", &q.Partitions},
		{"kv-keys", &q.KVKeys}, {"queue-jobs", &q.QueueJobs},
	}
}

// ParseQuota reads "kv-keys=50,stored-bytes=1048576" (fields as in
// flowmesh quota set; 0 = unlimited).
func ParseQuota(s string) (flowmesh.QuotaLimits, error) {
	var q flowmesh.QuotaLimits
	if s == "" {
		return q, nil
	}
	for _, kv := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.ParseInt(val, 10, 64)
		if !ok || err != nil || n < 0 {
			return q, fmt.Errorf("runner: quota %q: want NAME=N with N >= 0", kv)
		}
		found := false
		for _, f := range quotaFields(&q) {
			if f.name == name {
				*f.v, found = &n, true
			}
		}
		if !found {
			return q, fmt.Errorf("runner: quota %q: unknown name (stored-bytes, resources, partitions, kv-keys, queue-jobs)", name)
		}
	}
	return q, nil
}

func quotaString(q flowmesh.QuotaLimits) string {
	var parts []string
	for _, f := range quotaFields(&q) {
		if *f.v != nil {
			parts = append(parts, fmt.Sprintf("%s=%d", f.name, **f.v))
		}
	}
	return strings.Join(parts, ",")
}

func usageString(q flowmesh.TenantQuota) string {
	u, l := q.Usage, q.Limits
	return fmt.Sprintf("stored-bytes %d/%d, resources %d/%d, partitions %d/%d, kv-keys %d/%d, queue-jobs %d/%d (0: unlimited)",
		u.StoredBytes, l.StoredBytes, u.Resources, l.Resources, u.Partitions, l.Partitions, u.KVKeys, l.KVKeys, u.QueueJobs, l.QueueJobs)
}
