package storage_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/flowmesh/flowmesh/flowmeshtest"
	"github.com/flowmesh/flowmesh/storage"
)

// quietLogger keeps raft's chatter out of test output.
// quietLogger discards the nodes' logs; FLOWMESH_TEST_LOG=1 sends them to
// stderr (debug level) for a failing test.
func quietLogger() *slog.Logger {
	if os.Getenv("FLOWMESH_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
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
			Quotas:    s,
			Advance:   clock.Advance,
		}
	})
}
