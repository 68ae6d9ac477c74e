package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

func TestDryRunPrintsSeedAndSchedule(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"--workload", "stream", "--nemesis", "kill,partition", "--time", "30s", "--seed", "7", "--dry-run"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	var again bytes.Buffer
	run(args, &again, &errb)
	if !strings.Contains(out.String(), "seed 7") || !strings.Contains(out.String(), "faults") || out.String() != again.String() {
		t.Errorf("dry run output not deterministic or lacks the seed:\n%s\n%s", out.String(), again.String())
	}
}

func TestCheckFileExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, ops []history.Op) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := history.WriteJSONL(f, ops); err != nil {
			t.Fatal(err)
		}
		f.Close()
		return p
	}
	good := write("good.jsonl", []history.Op{
		{Index: 0, Type: history.OK, F: history.Write, Key: "x", Value: "a", Revision: 3, InvokeTime: 0, CompleteTime: 1},
		{Index: 1, Type: history.OK, F: history.Read, Key: "x", Value: "a", Revision: 3, InvokeTime: 2, CompleteTime: 3},
	})
	bad := write("bad.jsonl", []history.Op{
		{Index: 0, Type: history.OK, F: history.Write, Key: "x", Value: "a", Revision: 3, InvokeTime: 0, CompleteTime: 1},
		{Index: 1, Type: history.OK, F: history.Read, Key: "x", Value: "", InvokeTime: 2, CompleteTime: 3},
	})
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--workload", "kv", "--check", good}, 0},
		{[]string{"--workload", "kv", "--check", bad}, 1},
		{[]string{"--workload", "kv", "--check", filepath.Join(dir, "missing")}, exitCannotRun},
		{[]string{"--workload", "nope", "--dry-run"}, exitCannotRun},
		{[]string{"--nemesis", "explode", "--dry-run"}, exitCannotRun},
		{[]string{"--seed", "1", "--net", "bogus"}, exitCannotRun},
	} {
		var out, errb bytes.Buffer
		if got := run(tc.args, &out, &errb); got != tc.want {
			t.Errorf("run %v = %d, want %d\nstdout %s\nstderr %s", tc.args, got, tc.want, out.String(), errb.String())
		}
	}
}
