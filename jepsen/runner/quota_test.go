package runner

import "testing"

func TestParseQuota(t *testing.T) {
	q, err := ParseQuota("kv-keys=50, stored-bytes=1048576")
	if err != nil || q.KVKeys == nil || *q.KVKeys != 50 || q.StoredBytes == nil || *q.StoredBytes != 1048576 || q.QueueJobs != nil {
		t.Fatalf("ParseQuota = %+v, %v", q, err)
	}
	if got := quotaString(q); got != "stored-bytes=1048576,kv-keys=50" {
		t.Errorf("quotaString = %q", got)
	}
	for _, bad := range []string{"kv-keys", "kv-keys=-1", "kv-keys=x", "disk=1"} {
		if _, err := ParseQuota(bad); err == nil {
			t.Errorf("ParseQuota(%q) accepted", bad)
		}
	}
}
