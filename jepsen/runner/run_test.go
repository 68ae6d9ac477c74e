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
	"github.com/flowmesh/flowmesh/jepsen/netns"
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
	for i, w := range []string{"kv", "queue", "stream", "txn", "lock"} {
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
// and switches on each deliberate bug of internal/faults in turn: the run
// must be invalid, end to end (processes, faults, history, checkers). A
// harness that cannot fail is worthless.
//
//   - ack-before-commit: a KV put is acknowledged before it commits; leader
//     kills lose acknowledged writes.
//   - double-apply: the FSM forgets its replay guard on restart; killed and
//     restarted nodes apply replayed entries twice (stream duplicates,
//     replica divergence).
//   - stale-linearizable: nodes answer linearizable reads from local state;
//     an isolated follower serves stale values. Needs network namespaces
//     (root, ip, iptables, tc), which CI has.
//   - half-txn: the FSM applies a transaction's then-branch but its last
//     op (the txn workload's enqueue) and acknowledges it whole; the txn
//     checker finds acknowledged transfers without their job.
//   - no-fence: the FSM lets every create-revision compare hold, so the
//     lock workload's holders that stalled past the lock's TTL write after
//     their successors; the lock checker finds tokens going backwards in
//     the committed order.
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
	every := func(kind nemesis.Kind, target nemesis.Target, nodes ...int) []nemesis.Fault {
		var fs []nemesis.Fault
		for i, s := 0, 2*time.Second; s < 10*time.Second; i, s = i+1, s+3*time.Second {
			f := nemesis.Fault{Kind: kind, Start: s, Stop: s + 1500*time.Millisecond, Target: target}
			if target == nemesis.TargetNodes {
				f.Nodes = []int{nodes[i%len(nodes)]}
			}
			fs = append(fs, f)
		}
		return fs
	}
	for i, tc := range []struct {
		bug, workload, nemesis string
		faults                 []nemesis.Fault
		netns                  bool
		check, anomaly         string // when set: an anomaly the run must show
	}{
		{"ack-before-commit", "kv", "kill", every(nemesis.Kill, nemesis.TargetLeader), false, "", ""},
		{"double-apply", "stream", "kill", every(nemesis.Kill, nemesis.TargetNodes, 1, 2), false, "", ""},
		// Two long isolations, of node 1 and of node 2: at least one is a follower.
		{"stale-linearizable", "kv", "partition-one", []nemesis.Fault{
			{Kind: nemesis.PartitionOne, Start: 2 * time.Second, Stop: 6 * time.Second, Target: nemesis.TargetNodes, Nodes: []int{1}},
			{Kind: nemesis.PartitionOne, Start: 7 * time.Second, Stop: 11 * time.Second, Target: nemesis.TargetNodes, Nodes: []int{2}},
		}, true, "", ""},
		// Every transfer's job is missing: lost-job and partial.
		{"half-txn", "txn", "kill", every(nemesis.Kill, nemesis.TargetLeader), false, "txn", "lost-job"},
		// Stalled holders write after their successors.
		{"no-fence", "lock", "kill", every(nemesis.Kill, nemesis.TargetLeader), false, "lock", "token-regression"},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			net := NetLoopback
			if tc.netns {
				if err := netns.Available(); err != nil || os.Geteuid() != 0 {
					t.Skipf("needs network namespaces as root: %v (euid %d)", err, os.Geteuid())
				}
				net = NetNS
			}
			seed := int64(43 + i)
			t.Logf("seed %d", seed)
			cfg := DefaultConfig()
			cfg.Workload, cfg.Nemesis, cfg.Nodes, cfg.Time, cfg.Seed = tc.workload, tc.nemesis, 3, 12*time.Second, seed
			cfg.Schedule = nemesis.Schedule{Seed: seed, Nodes: 3, Faults: tc.faults}
			cfg.Net, cfg.Binary, cfg.Store, cfg.BasePort = net, bin, t.TempDir(), 28400+100*i
			cfg.BuildTags, cfg.NodeEnv = "flowmesh_faults", []string{"FLOWMESH_FAULTS=" + tc.bug}
			var log bytes.Buffer
			out, err := Run(context.Background(), cfg, &log)
			if err != nil || out.Valid != checker.Invalid {
				t.Fatalf("%s: run: %v, verdict %s, want invalid\n%s", tc.bug, err, out.Valid, log.String())
			}
			res, err := report.ReadResults(filepath.Join(out.Dir, report.ResultsFile))
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range res.Checks {
				t.Logf("%s: check %s: %s %v", tc.bug, name, c.Valid, c.Anomalies)
			}
			if tc.check != "" && res.Checks[tc.check].Anomalies[tc.anomaly] == 0 {
				t.Errorf("%s: check %s found no %s", tc.bug, tc.check, tc.anomaly)
			}
		})
	}
}
