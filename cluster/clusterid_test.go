package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	ourCluster   = "0123456789abcdef0123456789abcdef"
	theirCluster = "fedcba9876543210fedcba9876543210"
)

func TestDeriveClusterID(t *testing.T) {
	a := []Server{{ID: "n1", Address: "10.0.0.1:7401"}, {ID: "n2", Address: "10.0.0.2:7401"}, {ID: "n3", Address: "10.0.0.3:7401"}}
	b := []Server{a[2], a[0], a[1]}
	id := deriveClusterID(a)
	if !clusterIDPattern.MatchString(id) {
		t.Fatalf("deriveClusterID = %q, want 32 hex digits", id)
	}
	if deriveClusterID(b) != id {
		t.Error("the ID depends on the order of the servers: nodes bootstrapping together would disagree")
	}
	c := []Server{a[0], a[1], {ID: "n3", Address: "10.0.0.4:7401"}}
	if deriveClusterID(c) == id || deriveClusterID(a[:2]) == id {
		t.Error("different bootstrap configurations gave the same ID")
	}
	// The separator keeps ("n1", "x:1") and ("n1x", ":1") apart.
	if deriveClusterID([]Server{{ID: "n1", Address: "x:1"}}) == deriveClusterID([]Server{{ID: "n1x", Address: ":1"}}) {
		t.Error("ID and address run together")
	}
}

func TestForeignCluster(t *testing.T) {
	for _, tc := range []struct {
		ours, theirs string
		foreign      bool
	}{
		{"", "", false}, {ourCluster, "", false}, {"", theirCluster, false},
		{ourCluster, ourCluster, false}, {ourCluster, theirCluster, true},
	} {
		why := foreignCluster(tc.ours, tc.theirs, "n9")
		if (why != "") != tc.foreign {
			t.Errorf("foreignCluster(%q, %q) = %q, want foreign %v", tc.ours, tc.theirs, why, tc.foreign)
		}
		if tc.foreign && (!strings.Contains(why, "n9") || !strings.Contains(why, tc.theirs)) {
			t.Errorf("reason %q names neither the node nor its cluster", why)
		}
	}
}

func TestLoadClusterID(t *testing.T) {
	dir := t.TempDir()
	if id, err := loadClusterID(dir); err != nil || id != "" {
		t.Fatalf("no file: %q, %v", id, err)
	}
	if err := os.WriteFile(filepath.Join(dir, clusterIDFile), []byte(ourCluster+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if id, err := loadClusterID(dir); err != nil || id != ourCluster {
		t.Fatalf("stored: %q, %v", id, err)
	}
	if err := os.WriteFile(filepath.Join(dir, clusterIDFile), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadClusterID(dir); err == nil || !strings.Contains(err.Error(), clusterIDFile) {
		t.Fatalf("a corrupt file: %v, want an error naming it", err)
	}
}
