package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLogStoreKindIsKeptPerDataDir(t *testing.T) {
	for _, tc := range []struct{ first, second, wantErr, want string }{
		{LogStoreBolt, LogStoreWAL, "holds a bolt raft log", ""},
		{LogStoreWAL, LogStoreBolt, "holds a raft-wal log", ""},
		{LogStoreWAL, LogStoreWAL, "", LogStoreWAL},
		{LogStoreBolt, "", "", LogStoreBolt}, // an old dir keeps bolt without a flag
		{LogStoreBolt, LogStoreBolt, "", LogStoreBolt},
		{"", "", "", LogStoreWAL}, // the default for a new dir
		{"", LogStoreBolt, "holds a raft-wal log", ""},
		{"", LogStoreWAL, "", LogStoreWAL},
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
				continue
			}
			s.Close()
			if got, _ := DetectLogStore(dir); got != tc.want {
				t.Errorf("%q then %q: dir holds %q, want %q", tc.first, tc.second, got, tc.want)
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
	// Both stores in one dir (a botched manual conversion): refused.
	dir := t.TempDir()
	s, err := openLogStore(dir, LogStoreBolt)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Mkdir(filepath.Join(dir, walDirName), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := openLogStore(dir, ""); err == nil || !strings.Contains(err.Error(), "holds both") {
		t.Errorf("dir with raft.db and wal/: %v", err)
	}
}
