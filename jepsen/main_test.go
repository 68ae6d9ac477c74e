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
	// txn: one ok transfer of 3 from account 0 to 1 (of 5 at 1000), its
	// event and job present; the bad history loses the job.
	xfer := history.Op{Index: 0, Type: history.OK, F: history.Transfer, Key: "0>1", Value: "0-1", Expect: 3, InvokeTime: 0, CompleteTime: 1}
	bal := history.Op{Index: 1, Type: history.OK, F: history.Balances, Value: "997,1003,1000,1000,1000", InvokeTime: 2, CompleteTime: 3}
	ledger := history.Op{Index: 2, Type: history.OK, F: history.FinalRead, Key: "jepsen/test/ledger", Messages: []history.Message{{Value: "0-1"}}, InvokeTime: 4, CompleteTime: 5}
	job := history.Op{Index: 3, Type: history.OK, F: history.Reserve, Key: "jepsen/test/transfers", Value: "0-1", JobID: "j", InvokeTime: 6, CompleteTime: 7}
	txnGood := write("txn-good.jsonl", []history.Op{xfer, bal, ledger, job})
	txnBad := write("txn-bad.jsonl", []history.Op{xfer, bal, ledger})
	// lock: a hold of token 5, then one of 9; the bad history accepts a
	// write of the stale holder after its successor's.
	acq5 := history.Op{Index: 0, Process: 0, Type: history.OK, F: history.Acquire, Key: "lock", Revision: 5, InvokeTime: 0, CompleteTime: 1}
	w5 := history.Op{Index: 1, Process: 0, Type: history.OK, F: history.FencedWrite, Key: "lock", Value: "5/0-1", Expect: 5, InvokeTime: 2, CompleteTime: 3}
	acq9 := history.Op{Index: 2, Process: 1, Type: history.OK, F: history.Acquire, Key: "lock", Revision: 9, InvokeTime: 4, CompleteTime: 5}
	w9 := history.Op{Index: 3, Process: 1, Type: history.OK, F: history.FencedWrite, Key: "lock", Value: "9/1-1", Expect: 9, InvokeTime: 6, CompleteTime: 7}
	stale := history.Op{Index: 4, Process: 0, Type: history.OK, F: history.FencedWrite, Key: "lock", Value: "5/0-2", Expect: 5, InvokeTime: 8, CompleteTime: 9}
	evs := func(vs ...string) history.Op {
		o := history.Op{Index: 5, Process: 99, Type: history.OK, F: history.FinalRead, Key: "jepsen/test/fenced", InvokeTime: 10, CompleteTime: 11}
		for i, v := range vs {
			o.Messages = append(o.Messages, history.Message{Offset: uint64(i), Value: v})
		}
		return o
	}
	val := func(v string) history.Op {
		return history.Op{Index: 6, Process: 99, Type: history.OK, F: history.Read, Key: "jepsen/test/state/value", Value: v, InvokeTime: 12, CompleteTime: 13}
	}
	lockGood := write("lock-good.jsonl", []history.Op{acq5, w5, acq9, w9, evs("5/0-1", "9/1-1"), val("9/1-1")})
	lockBad := write("lock-bad.jsonl", []history.Op{acq5, w5, acq9, w9, stale, evs("5/0-1", "9/1-1", "5/0-2"), val("5/0-2")})
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--workload", "kv", "--check", good}, 0},
		{[]string{"--workload", "kv", "--check", bad}, 1},
		{[]string{"--workload", "txn", "--check", txnGood}, 0},
		{[]string{"--workload", "txn", "--check", txnBad}, 1},
		{[]string{"--workload", "lock", "--check", lockGood}, 0},
		{[]string{"--workload", "lock", "--check", lockBad}, 1},
		{[]string{"--workload", "lock", "--lock-ttl", "500ms", "--dry-run"}, exitCannotRun},
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
