package storage_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/flowmesh/flowmesh"
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

// TestConformance runs the conformance suite against *storage.Storage
// itself in every role, as a program that holds one node value and passes
// it wherever a root interface is wanted. The founding API's accessors
// (MetaStore, StreamManager, ...) are views of the same node
// (TestDirectAndAccessorsShareState, Example).
func TestConformance(t *testing.T) {
	flowmeshtest.Run(t, func(t *testing.T) flowmeshtest.Target {
		s, clock := startNode(t)
		var (
			r  flowmesh.ResourceManager = s
			st flowmesh.StreamManager   = s
			q  flowmesh.QueueManager    = s
			kv flowmesh.KVManager       = s
			qm flowmesh.QuotaManager    = s
		)
		if _, ok := q.(flowmesh.QueueBatcher); !ok {
			t.Fatal("*storage.Storage as a QueueManager is not a QueueBatcher")
		}
		return flowmeshtest.Target{Resources: r, Streams: st, Queues: q, KV: kv, Quotas: qm, Advance: clock.Advance}
	})
}
