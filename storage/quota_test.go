package storage_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// TestQuotaUsageSurvivesRestart writes up to a quota, restarts the node on
// its data dir (once after a checkpoint, once from the raft log alone) and
// finds the same limits and use, still enforced.
func TestQuotaUsageSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *storage.Storage {
		t.Helper()
		cfg := storage.DefaultConfig()
		cfg.DataDir = dir
		cfg.Logger = quietLogger()
		s, err := storage.NewWithConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	limit := int64(300)
	if _, err := s.SetQuota(ctx, "t1", flowmesh.QuotaLimits{StoredBytes: &limit}, false); err != nil {
		t.Fatal(err)
	}
	st, err := s.MetaStore().CreateStream(ctx, "t1", "ns", "s", 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.StreamManager().WriteEvents(ctx, st.GetPath(), []storage.StreamEvent{{Payload: make([]byte, 90), Key: string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := s.Quota(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if want.Usage.StoredBytes != 273 {
		t.Fatalf("usage %+v", want.Usage)
	}
	for _, snapshot := range []bool{true, false} {
		if snapshot {
			if err := s.Snapshot(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		s = open()
		got, err := s.Quota(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Usage != want.Usage || got.Limits != want.Limits {
			t.Fatalf("after restart (snapshot %v): %+v, want %+v", snapshot, got, want)
		}
		_, err = s.StreamManager().WriteEvents(ctx, st.GetPath(), []storage.StreamEvent{{Payload: make([]byte, 30)}})
		if qe, ok := errors.AsType[*flowmesh.QuotaError](err); !ok || qe.Using != 273 {
			t.Fatalf("after restart (snapshot %v): write over the quota: %v", snapshot, err)
		}
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}
