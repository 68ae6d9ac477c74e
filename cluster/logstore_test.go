package cluster

import (
	"strings"
	"testing"
)

func TestLogStoreKindIsKeptPerDataDir(t *testing.T) {
	for _, tc := range []struct{ first, second, wantErr string }{
		{LogStoreBolt, LogStoreWAL, "holds a bolt raft log"},
		{LogStoreWAL, LogStoreBolt, "holds a raft-wal log"},
		{LogStoreWAL, LogStoreWAL, ""},
		{"", LogStoreBolt, ""},
	} {
		dir := t.TempDir()
		s, err := openLogStore(dir, tc.first)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s, err = openLogStore(dir, tc.second)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%q then %q: %v", tc.first, tc.second, err)
			} else {
				s.Close()
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q then %q: error %v, want %q", tc.first, tc.second, err, tc.wantErr)
		}
	}
	if _, err := openLogStore(t.TempDir(), "sqlite"); err == nil {
		t.Error("unknown log store accepted")
	}
}
