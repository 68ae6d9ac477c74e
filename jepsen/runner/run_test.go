package runner

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/nemesis"
	"github.com/flowmesh/flowmesh/jepsen/report"
)

// TestLoopbackRunIsValid runs each workload for a few seconds on one node
// on loopback (no root needed) with a kill and a pause, end to end:
// processes, history, final phase, checker, report.
func TestLoopbackRunIsValid(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	bin := filepath.Join(t.TempDir(), "flowmesh-node")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for i, w := range []string{"kv", "queue", "stream"} {
		t.Run(w, func(t *testing.T) {
			const seed = 42
			t.Logf("seed %d", seed)
			sched := nemesis.Schedule{Seed: seed, Nodes: 1, Faults: []nemesis.Fault{
				{Kind: nemesis.Kill, Start: 1500 * time.Millisecond, Stop: 2500 * time.Millisecond, Target: nemesis.TargetNodes, Nodes: []int{0}},
				{Kind: nemesis.Pause, Start: 3500 * time.Millisecond, Stop: 4500 * time.Millisecond, Target: nemesis.TargetLeader},
			}}
			cfg := DefaultConfig()
			cfg.Workload, cfg.Schedule, cfg.Nemesis, cfg.Nodes, cfg.Time = w, sched, "kill,pause", 1, 6*time.Second
			cfg.Net, cfg.Binary, cfg.Store, cfg.BasePort, cfg.Seed = NetLoopback, bin, t.TempDir(), 27400+100*i, seed
			cfg.Concurrency = 4
			var log bytes.Buffer
			out, err := Run(context.Background(), cfg, &log)
			if err != nil || out.Valid != checker.Valid {
				t.Fatalf("run: %v, verdict %s\n%s", err, out.Valid, log.String())
			}
			res, err := report.ReadResults(filepath.Join(out.Dir, report.ResultsFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Checks) != 2 || res.Checks["replicas"].Valid != checker.Valid || res.Seed != seed {
				t.Errorf("results: %+v", res)
			}
			for _, f := range []string{report.HistoryFile, report.LatencyFile, filepath.Join(report.LogsDir, "n0", "node.log")} {
				if _, err := os.Stat(filepath.Join(out.Dir, f)); err != nil {
					t.Errorf("report lacks %s: %v", f, err)
				}
			}
		})
	}
}

// TestDeliberateBugIsCaught builds the node with the flowmesh_faults tag
// and switches on ack-before-commit: under leader kills the kv run must be
// invalid, end to end. A harness that cannot fail is worthless.
func TestDeliberateBugIsCaught(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node processes")
	}
	bin := filepath.Join(t.TempDir(), "flowmesh-node-faults")
	build := exec.Command("go", "build", "-tags", "flowmesh_faults", "-o", bin, "../../cmd/node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const seed = 43
	t.Logf("seed %d", seed)
	var faults []nemesis.Fault
	for s := 2 * time.Second; s < 10*time.Second; s += 3 * time.Second {
		faults = append(faults, nemesis.Fault{Kind: nemesis.Kill, Start: s, Stop: s + 1500*time.Millisecond, Target: nemesis.TargetLeader})
	}
	cfg := DefaultConfig()
	cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Time, cfg.Seed = "kv", "kill", 3, 12*time.Second, seed
	cfg.Schedule = nemesis.Schedule{Seed: seed, Nodes: 3, Faults: faults}
	cfg.Net, cfg.Binary, cfg.Store, cfg.BasePort = NetLoopback, bin, t.TempDir(), 28400
	cfg.BuildTags, cfg.NodeEnv = "flowmesh_faults", []string{"FLOWMESH_FAULTS=ack-before-commit"}
	var log bytes.Buffer
	out, err := Run(context.Background(), cfg, &log)
	if err != nil || out.Valid != checker.Invalid {
		t.Fatalf("run: %v, verdict %s, want invalid\n%s", err, out.Valid, log.String())
	}
}
