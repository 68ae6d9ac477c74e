//go:build flowmesh_faults

package storage_test

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The lose-unsynced crash (FLOWMESH_CRASH_LOSE_UNSYNCED_FILE): the child
// cuts every segment file back to its last fsync and exits, as a machine
// crash would leave them. The FSM syncs its segments only at checkpoints,
// so acknowledged entries are lost from the segments each time; the raft
// log (synced on every commit) and the checkpoint's replay guard must bring
// every acknowledged write back, exactly once.
func TestFaultLoseUnsynced(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and crashes processes")
	}
	for _, store := range []string{"boltdb", "wal"} {
		t.Run(store, func(t *testing.T) {
			t.Setenv("FLOWMESH_CRASH_LOGSTORE", store) // read by the child and by crashConfig
			testLoseUnsynced(t)
		})
	}
}

func testLoseUnsynced(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	trigger := filepath.Join(t.TempDir(), "lose-unsynced")
	t.Setenv("FLOWMESH_CRASH_LOSE_UNSYNCED_FILE", trigger)
	log := &crashLog{events: map[string][2]uint64{}, jobs: map[string]string{}, acked: map[string]bool{},
		acking: map[string]bool{}, kv: map[string][]string{}, kvRev: map[string]uint64{}}
	var dropped int64
	for run := 0; run < 4; run++ {
		d := time.Duration(300+rng.Intn(900)) * time.Millisecond
		runChildUntil(t, dir, run, log, func(*exec.Cmd) {
			time.Sleep(d)
			if err := os.WriteFile(trigger, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, func(ws syscall.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 99 })
		if _, err := os.Stat(trigger); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("run %d: the crash did not consume its trigger: %v", run, err)
		}
		report, err := os.ReadFile(trigger + ".dropped")
		if err != nil {
			t.Fatalf("run %d: no report of the crash: %v", run, err)
		}
		os.Remove(trigger + ".dropped")
		var n int64
		line := strings.TrimSpace(string(report))
		if i := strings.Index(line, "segment: cut "); i < 0 {
			t.Fatalf("run %d: report without the segment store: %q", run, line)
		} else if _, err := fmt.Sscanf(line[i:], "segment: cut %d unsynced bytes", &n); err != nil {
			t.Fatalf("run %d: report %q: %v", run, line, err)
		}
		if strings.Contains(line, "errors:") {
			t.Fatalf("run %d: %s", run, line)
		}
		t.Logf("run %d after %s: %s", run, d, line)
		dropped += n
	}
	if dropped == 0 {
		t.Fatal("no run dropped an unsynced byte: the test tests nothing")
	}
	if len(log.events) == 0 || len(log.jobs) == 0 || len(log.kv) == 0 {
		t.Fatalf("the child acknowledged nothing: %d events, %d jobs, %d keys", len(log.events), len(log.jobs), len(log.kv))
	}
	t.Logf("acknowledged: %d events, %d jobs (%d acked), %d keys; %d unsynced bytes dropped", len(log.events), len(log.jobs), len(log.acked), len(log.kv), dropped)

	t.Setenv("FLOWMESH_CRASH_LOSE_UNSYNCED_FILE", "")
	reopenAndVerify(t, dir, log)
}
