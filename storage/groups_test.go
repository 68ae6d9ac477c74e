package storage_test

import (
	"context"
	"testing"

	"github.com/flowmesh/flowmesh/storage"
)

// TestLocalGroupOffsets: every committed offset of every stream, sorted,
// capped at the limit with the total; a deleted stream's groups go with it.
func TestLocalGroupOffsets(t *testing.T) {
	ctx := context.Background()
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = quietLogger()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	for _, name := range []string{"b", "a"} {
		if _, err := s.MetaStore().CreateStream(ctx, "t1", "ns", name, 2); err != nil {
			t.Fatal(err)
		}
	}
	commits := []storage.GroupOffset{
		{Path: "t1/ns/b", Group: "g1", Partition: 1, Offset: 7},
		{Path: "t1/ns/a", Group: "g2", Partition: 0, Offset: 3},
		{Path: "t1/ns/a", Group: "g1", Partition: 1, Offset: 5},
		{Path: "t1/ns/a", Group: "g1", Partition: 0, Offset: 4},
		{Path: "t1/ns/a", Group: "g1", Partition: 0, Offset: 9}, // moves g1's offset on
	}
	for _, c := range commits {
		if err := s.StreamManager().CommitOffset(ctx, c.Path, c.Group, c.Partition, c.Offset); err != nil {
			t.Fatal(err)
		}
	}
	want := []storage.GroupOffset{
		{Path: "t1/ns/a", Group: "g1", Partition: 0, Offset: 9},
		{Path: "t1/ns/a", Group: "g1", Partition: 1, Offset: 5},
		{Path: "t1/ns/a", Group: "g2", Partition: 0, Offset: 3},
		{Path: "t1/ns/b", Group: "g1", Partition: 1, Offset: 7},
	}
	got, total := s.LocalGroupOffsets(0)
	if total != 4 || len(got) != 4 {
		t.Fatalf("LocalGroupOffsets(0) = %+v, total %d; want %+v", got, total, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("offset %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, total := s.LocalGroupOffsets(2); total != 4 || len(got) != 2 || got[1] != want[1] {
		t.Errorf("LocalGroupOffsets(2) = %+v, total %d; want the first 2 of 4", got, total)
	}
	if err := s.MetaStore().DeleteResource(ctx, "t1/ns/a"); err != nil {
		t.Fatal(err)
	}
	if got, total := s.LocalGroupOffsets(0); total != 1 || got[0] != want[3] {
		t.Errorf("after deleting t1/ns/a: %+v, total %d; want only %+v", got, total, want[3])
	}
}
