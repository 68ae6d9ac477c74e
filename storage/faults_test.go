//go:build flowmesh_faults

package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// The deliberate bugs of the flowmesh_faults build (internal/faults) do
// what the fault-injection harness relies on: each breaks a guarantee the
// normal build keeps.

func TestFaultDoubleApply(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	start := func() *storage.Storage {
		cfg := storage.DefaultConfig()
		cfg.DataDir, cfg.NodeID, cfg.Logger = dir, "n1", quietLogger()
		s, err := storage.NewWithConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	count := func(s *storage.Storage) uint64 {
		info, err := s.StreamManager().PartitionInfo(ctx, "t/ns/s", 0)
		if err != nil {
			t.Fatal(err)
		}
		return info.Next
	}
	s := start()
	if _, err := storage.NewResourceFactory(s.MetaStore()).CreateStream(ctx, "t", "ns", "s", 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if _, err := s.StreamManager().WriteEvents(ctx, "t/ns/s", []flowmesh.StreamEvent{{Payload: []byte(fmt.Sprint(i))}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Stop(ctx)

	s = start() // normal build behaviour: the replay guard holds
	if n := count(s); n != 10 {
		t.Fatalf("without the bug: %d events after a restart, want 10", n)
	}
	s.Stop(ctx)

	t.Setenv("FLOWMESH_FAULTS", "double-apply")
	s = start()
	defer s.Stop(ctx)
	if n := count(s); n <= 10 {
		t.Fatalf("double-apply: %d events after a restart, want the replayed entries applied again", n)
	}
}

func TestFaultAckBeforeCommit(t *testing.T) {
	t.Setenv("FLOWMESH_FAULTS", "ack-before-commit")
	s, _ := startNode(t)
	ctx := context.Background()
	if _, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	rev, err := s.KVManager().Put(ctx, "t/ns/kv", "k", []byte("v"), flowmesh.KVPutOptions{})
	if err != nil || rev != 0 {
		t.Fatalf("ack-before-commit: Put = %d, %v; want an acknowledgement without a committed revision", rev, err)
	}
}

func TestFaultNoFence(t *testing.T) {
	// staleWrite tries, on a new node, a write fenced by an older token
	// than the lock key's; the FSM reads FLOWMESH_FAULTS when it opens.
	staleWrite := func() *flowmesh.TxnResult {
		s, _ := startNode(t)
		ctx := context.Background()
		if _, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
			t.Fatal(err)
		}
		rev, err := s.KVManager().Put(ctx, "t/ns/kv", "lock", []byte("holder"), flowmesh.KVPutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.KVManager().(flowmesh.TxnManager).Txn(ctx, flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{flowmesh.CompareCreateRevision("t/ns/kv", "lock", flowmesh.CompareEqual, rev-1)},
			Then:     []flowmesh.TxnOp{flowmesh.OpPut("t/ns/kv", "x", []byte("stale"), 0)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := staleWrite(); res.Succeeded {
		t.Fatalf("without the bug the fence refuses a stale token: %+v", res)
	}
	t.Setenv("FLOWMESH_FAULTS", "no-fence")
	if res := staleWrite(); !res.Succeeded {
		t.Fatalf("no-fence: the stale write is still refused: %+v", res)
	}
}

func TestFaultStaleLinearizable(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	var follower *clusterNode
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	path := putOnLeader(t, leader, "k", "v1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := follower.s.KVManager().Get(ctx, path, "k")
	if !errors.Is(err, flowmesh.ErrNotLeader) {
		t.Fatalf("without the bug a follower refuses a linearizable read: got %v", err)
	}
	// The node reads FLOWMESH_FAULTS when it is built: restart the
	// follower with the bug on.
	if err := follower.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FLOWMESH_FAULTS", "stale-linearizable")
	follower = startClusterNode(t, follower.cfg)
	if _, err := follower.s.KVManager().Get(ctx, path, "k"); err != nil && !errors.Is(err, flowmesh.ErrNotFound) {
		t.Fatalf("stale-linearizable: a follower still refuses: %v", err)
	}
}

// The crash-before-apply failpoint: the child exits after raft wrote a batch
// to its log and before the FSM applied it; on restart every acknowledged
// write is there exactly once.
func TestFaultCrashBeforeApply(t *testing.T) {
	dir := t.TempDir()
	trigger := filepath.Join(t.TempDir(), "crash-now")
	t.Setenv("FLOWMESH_CRASH_BEFORE_APPLY_FILE", trigger)
	log := &crashLog{events: map[string][2]uint64{}, jobs: map[string]string{}, acked: map[string]bool{},
		acking: map[string]bool{}, kv: map[string][]string{}, kvRev: map[string]uint64{}}
	for run := 0; run < 3; run++ {
		runChildUntil(t, dir, run, log, func(*exec.Cmd) {
			time.Sleep(300 * time.Millisecond)
			if err := os.WriteFile(trigger, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(ws syscall.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 99 })
	}
	if _, err := os.Stat(trigger); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failpoint did not consume its trigger: %v", err)
	}
	t.Setenv("FLOWMESH_CRASH_BEFORE_APPLY_FILE", "")
	reopenAndVerify(t, dir, log)
}
