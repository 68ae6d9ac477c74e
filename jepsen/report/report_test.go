package report

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/checker"
	"github.com/flowmesh/flowmesh/jepsen/history"
	"github.com/flowmesh/flowmesh/jepsen/nemesis"
)

func sampleOps() []history.Op {
	var ops []history.Op
	types := []history.Type{history.OK, history.OK, history.OK, history.Info, history.Fail}
	for i := range 200 {
		inv := time.Duration(i) * 50 * time.Millisecond
		ops = append(ops, history.Op{
			Index: i, Process: i % 4, Type: types[i%len(types)], F: history.Write, Key: "k", Value: "v",
			InvokeTime: inv, CompleteTime: inv + time.Duration(1+i%40)*time.Millisecond,
		})
	}
	return ops
}

var sampleWindows = []history.Window{
	{Kind: "partition-bridge", Detail: `groups=[[0 1] [1 2]] <&"quoted">`, Start: 2 * time.Second, Stop: 4 * time.Second},
	{Kind: "kill", Start: 6 * time.Second, Stop: 7 * time.Second},
}

// wellFormed decodes s as XML to the end and counts elements by name.
func wellFormed(t *testing.T, s string) map[string]int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	counts := map[string]int{}
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s[:min(len(s), 2000)])
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			counts[se.Name.Local]++
		}
	}
	if root != "svg" {
		t.Fatalf("root element is %q, want svg", root)
	}
	return counts
}

func TestSVGWellFormed(t *testing.T) {
	ops := sampleOps()
	for _, tc := range []struct {
		name    string
		ops     []history.Op
		windows []history.Window
	}{
		{"sample", ops, sampleWindows},
		{"empty", nil, nil},
		{"one op, no latency", []history.Op{{Type: history.OK, F: history.Read}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lat := wellFormed(t, LatencySVG("kv <&> test", tc.ops, tc.windows))
			if lat["circle"] != len(tc.ops) {
				t.Errorf("latency plot has %d points, want %d", lat["circle"], len(tc.ops))
			}
			thr := wellFormed(t, ThroughputSVG("kv <&> test", tc.ops, tc.windows))
			if thr["polyline"] != 3 {
				t.Errorf("throughput plot has %d lines, want 3 (ok, info, fail)", thr["polyline"])
			}
			// The frame's border is one rect, the background another, the
			// legend three: the rest are the fault windows.
			if got := lat["rect"] - 5; got != len(tc.windows) {
				t.Errorf("latency plot shades %d windows, want %d", got, len(tc.windows))
			}
		})
	}
}

func TestLatencyThinsLongHistories(t *testing.T) {
	ops := make([]history.Op, 3*maxPoints)
	for i := range ops {
		ops[i] = history.Op{Index: i, Type: history.OK, F: history.Read, InvokeTime: time.Duration(i) * time.Millisecond, CompleteTime: time.Duration(i+2) * time.Millisecond}
		if i%1000 == 0 {
			ops[i].Type = history.Info
		}
	}
	n := wellFormed(t, LatencySVG("long", ops, nil))["circle"]
	if n > maxPoints+maxPoints/10 || n < maxPoints/2 {
		t.Errorf("%d points for %d ops, want about %d", n, len(ops), maxPoints)
	}
	infos := 0
	for _, op := range thin(ops, maxPoints) {
		if op.Type == history.Info {
			infos++
		}
	}
	if infos != len(ops)/1000 {
		t.Errorf("thinning kept %d of %d info ops", infos, len(ops)/1000)
	}
}

func TestRun(t *testing.T) {
	store := t.TempDir()
	start := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	run, err := Open(Config{Store: store, Test: "kv-kill", Start: start})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(store, "kv-kill", "20260102T030405.006Z"); run.Dir() != want {
		t.Fatalf("dir = %s, want %s", run.Dir(), want)
	}
	ops := sampleOps()
	sched, err := nemesis.Generate(nemesis.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	res := Results{
		Test: "kv-kill", Workload: "kv", Seed: 42, Start: start, Nemesis: sched,
		Checks: map[string]checker.Result{
			"kv": checker.CheckKV(ops[:3], checker.KVConfig{StateHashes: map[string]string{"n1": "a", "n2": "b", "n3": "b"}}),
		},
	}
	res.Summarize()
	if res.Valid != checker.Invalid || res.Anomalies[checker.KVStateHashDivergence] != 1 {
		t.Fatalf("summary = %s %v, want invalid with one state-hash divergence", res.Valid, res.Anomalies)
	}
	log := filepath.Join(t.TempDir(), "node.log")
	if err := os.WriteFile(log, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(
		run.WriteResults(res),
		run.WriteHistory(ops),
		run.WritePlots("kv", ops, sampleWindows),
		run.CopyNodeLog("n1", log),
		run.LinkLatest(),
		run.LinkLatest(), // replacing works too
	); err != nil {
		t.Fatal(err)
	}

	got, err := ReadResults(filepath.Join(store, "latest", ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if got.Valid != checker.Invalid || got.Seed != 42 || !reflect.DeepEqual(got.Nemesis, sched) {
		t.Errorf("results read back: valid %s seed %d, schedule equal %v", got.Valid, got.Seed, reflect.DeepEqual(got.Nemesis, sched))
	}
	f, err := os.Open(filepath.Join(store, "kv-kill", "latest", HistoryFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	back, err := history.ReadJSONL(f)
	if err != nil || len(back) != len(ops) {
		t.Errorf("history read back: %d ops, %v", len(back), err)
	}
	for _, name := range []string{LatencyFile, ThroughputFile, filepath.Join(LogsDir, "n1", "node.log")} {
		if _, err := os.Stat(run.Path(name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSummarizeNoChecksIsUnknown(t *testing.T) {
	var res Results
	res.Summarize()
	if res.Valid != checker.Unknown {
		t.Errorf("valid = %s, want unknown", res.Valid)
	}
}

func TestOpenRejectsBadNames(t *testing.T) {
	for _, name := range []string{"", "latest", "a/b", "..", "."} {
		if _, err := Open(Config{Store: t.TempDir(), Test: name}); err == nil {
			t.Errorf("Open accepted test name %q", name)
		}
	}
	run, err := Open(Config{Store: t.TempDir(), Test: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if err := run.CopyNodeLog("../x", "/dev/null"); err == nil {
		t.Error("CopyNodeLog accepted a node name with a separator")
	}
}
