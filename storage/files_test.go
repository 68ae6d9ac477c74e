package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// TestSegmentFileBudget: every log of a node goes through one cache sized
// by MaxOpenSegmentFiles, which SegmentFiles reports; a node holding far
// more segment files than that serves every partition, also after a
// restart.
func TestSegmentFileBudget(t *testing.T) {
	const (
		budget     = 16
		partitions = 200
	)
	ctx := context.Background()
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Logger = quietLogger()
	cfg.MaxOpenSegmentFiles = budget
	start := func() *storage.Storage {
		s, err := storage.NewWithConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(s *storage.Storage, when string) {
		t.Helper()
		for i := range partitions {
			msgs, err := s.StreamManager().ReadFromOffset(ctx, "t/n/s", i, 0, 10)
			if want := fmt.Sprint(i); err != nil || len(msgs) != 1 || string(msgs[0].Payload) != want {
				t.Fatalf("%s: partition %d: %d messages, %v; want one %q", when, i, len(msgs), err, want)
			}
		}
		st := s.SegmentFiles()
		t.Logf("%s: %+v", when, st)
		if st.MaxOpen != budget || st.Open > budget || st.Peak > budget || st.Opens < partitions {
			t.Errorf("%s: SegmentFiles() = %+v, want budget %d, at most that open, and >= %d opens", when, st, budget, partitions)
		}
	}
	s := start()
	if _, err := storage.NewResourceFactory(s.MetaStore()).CreateStream(ctx, "t", "n", "s", partitions); err != nil {
		t.Fatal(err)
	}
	evs := make([]flowmesh.StreamEvent, partitions)
	for i := range evs {
		evs[i] = flowmesh.StreamEvent{Partition: i, Payload: []byte(fmt.Sprint(i))}
	}
	if _, err := s.StreamManager().WriteEvents(ctx, "t/n/s", evs); err != nil {
		t.Fatal(err)
	}
	check(s, "before restart")
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.SegmentFiles(); st.Open != 0 {
		t.Errorf("after Stop: %d segment files open, want 0", st.Open)
	}
	s = start()
	t.Cleanup(func() { s.Stop(context.Background()) })
	check(s, "after restart")
}

func TestMaxOpenSegmentFilesValidated(t *testing.T) {
	cfg := storage.DefaultConfig()
	cfg.MaxOpenSegmentFiles = -1
	if err := cfg.Validate(); err == nil {
		t.Fatal("Validate accepted MaxOpenSegmentFiles -1")
	}
}
