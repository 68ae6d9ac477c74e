package storage_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/flowmesh/flowmesh/flowmeshtest"
	"github.com/flowmesh/flowmesh/storage"
)

// quietLogger keeps raft's chatter out of test output.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startNode starts a node in a temp dir with a controllable clock.
func startNode(t *testing.T) (*storage.Storage, *storage.OffsetClock) {
	t.Helper()
	clock := &storage.OffsetClock{}
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Clock = clock.Now
	cfg.Logger = quietLogger()
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s, clock
}

func TestConformance(t *testing.T) {
	flowmeshtest.Run(t, func(t *testing.T) flowmeshtest.Target {
		s, clock := startNode(t)
		return flowmeshtest.Target{
			Resources: s.MetaStore(),
			Streams:   s.StreamManager(),
			Queues:    s.QueueManager(),
			KV:        s.KVManager(),
			Advance:   clock.Advance,
		}
	})
}
