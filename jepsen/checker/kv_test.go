package checker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

func kvop(p int, t history.Type, f history.F, key, value string, rev uint64) history.Op {
	return history.Op{Process: p, Type: t, F: f, Key: key, Value: value, Revision: rev}
}

func cas(p int, t history.Type, key string, expect uint64, value string, rev uint64) history.Op {
	op := kvop(p, t, history.CAS, key, value, rev)
	op.Expect = expect
	return op
}

const (
	ok   = history.OK
	fail = history.Fail
	info = history.Info
	rd   = history.Read
	wr   = history.Write
)

func TestKVValid(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
	}{
		{"empty", nil},
		{"sequential", h(
			at(kvop(0, ok, rd, "x", "", 0), 0, 1),
			at(kvop(0, ok, wr, "x", "a", 5), 2, 3),
			at(kvop(1, ok, rd, "x", "a", 5), 4, 5),
			at(cas(1, ok, "x", 5, "b", 9), 6, 7),
			at(kvop(0, ok, rd, "x", "b", 9), 8, 9),
		)},
		{"concurrent writes read in either order", h(
			at(kvop(0, ok, wr, "x", "a", 7), 0, 10),
			at(kvop(1, ok, wr, "x", "b", 6), 0, 10),
			at(kvop(2, ok, rd, "x", "a", 7), 11, 12),
			at(kvop(3, ok, rd, "y", "", 0), 1, 2),
		)},
		{"info write seen later", h(
			at(kvop(0, info, wr, "x", "a", 0), 0, 5),
			at(kvop(1, ok, rd, "x", "", 0), 6, 7),
			at(kvop(1, ok, rd, "x", "a", 4), 20, 21),
		)},
		{"info write never seen", h(
			at(kvop(0, info, wr, "x", "a", 0), 0, 5),
			at(kvop(1, ok, rd, "x", "", 0), 6, 7),
		)},
		{"info cas, matching but not applied, then applied", h(
			at(kvop(0, ok, wr, "x", "a", 3), 0, 1),
			at(cas(1, info, "x", 3, "b", 0), 2, 3),
			at(kvop(2, ok, rd, "x", "a", 3), 4, 5),
			at(kvop(2, ok, rd, "x", "b", 8), 6, 7),
		)},
		{"fail ops ignored", h(
			at(cas(0, fail, "x", 42, "zz", 0), 0, 1),
			at(kvop(1, fail, rd, "x", "nonsense", 0), 0, 1),
			at(kvop(1, ok, rd, "x", "", 0), 2, 3),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := CheckKV(tt.ops, KVConfig{StateHashes: map[string]string{"n1": "h", "n2": "h", "n3": "h"}})
			wantAnomalies(t, r)
		})
	}
}

// Each bad history shows exactly one anomaly.
func TestKVAnomalies(t *testing.T) {
	tests := []struct {
		anomaly string
		ops     []history.Op
		hashes  map[string]string
	}{
		{KVNonLinearizable, h(
			// a is acknowledged, then a later read sees the key absent.
			at(kvop(0, ok, wr, "x", "a", 5), 0, 1),
			at(kvop(1, ok, rd, "x", "", 0), 2, 3),
		), nil},
		{KVNonLinearizable, h(
			// cas succeeded although the revision it expected was replaced.
			at(kvop(0, ok, wr, "x", "a", 5), 0, 1),
			at(kvop(0, ok, wr, "x", "b", 6), 2, 3),
			at(cas(1, ok, "x", 5, "c", 7), 4, 5),
		), nil},
		{KVValueRevisionMismatch, h(
			at(kvop(0, ok, wr, "x", "a", 5), 0, 1),
			at(kvop(1, ok, rd, "x", "a", 6), 2, 3),
		), nil},
		{KVRevisionRegressionProcess, h(
			// Concurrent writes may linearize as a then b, but the process
			// that wrote a at 7 then read b at 3 saw time go backwards.
			at(kvop(0, ok, wr, "x", "a", 7), 0, 10),
			at(kvop(1, ok, wr, "x", "b", 3), 0, 10),
			at(kvop(0, ok, rd, "x", "b", 3), 11, 12),
		), nil},
		{KVRevisionRegressionWrite, h(
			at(kvop(0, ok, wr, "x", "a", 7), 0, 1),
			at(kvop(1, ok, wr, "x", "b", 3), 2, 3),
		), nil},
		{KVStateHashDivergence, h(
			at(kvop(0, ok, wr, "x", "a", 7), 0, 1),
		), map[string]string{"n1": "h1", "n2": "h1", "n3": "h2"}},
	}
	for _, tt := range tests {
		t.Run(tt.anomaly, func(t *testing.T) {
			r := CheckKV(tt.ops, KVConfig{StateHashes: tt.hashes})
			wantAnomalies(t, r, tt.anomaly)
		})
	}
}

func TestKVVisualization(t *testing.T) {
	path := filepath.Join(t.TempDir(), "linearizability.html")
	ops := h(
		at(kvop(0, ok, wr, "x", "a", 5), 0, 1),
		at(kvop(1, ok, rd, "x", "", 0), 2, 3),
		at(kvop(2, info, wr, "y", "b", 0), 2, 3),
	)
	r := CheckKV(ops, KVConfig{VisualizationPath: path, Windows: []history.Window{{Kind: "partition", Detail: "n1 | n2 n3", Start: 1, Stop: 2}}})
	wantAnomalies(t, r, KVNonLinearizable)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<html") || !strings.Contains(string(b), "partition") {
		t.Errorf("visualisation lacks html or the fault annotation (%d bytes)", len(b))
	}
}

func TestKVPorcupineTimeoutIsUnknown(t *testing.T) {
	defer func(f func(porcupine.Model, []porcupine.Operation, time.Duration) (porcupine.CheckResult, porcupine.LinearizationInfo)) {
		checkOperations = f
	}(checkOperations)
	checkOperations = func(porcupine.Model, []porcupine.Operation, time.Duration) (porcupine.CheckResult, porcupine.LinearizationInfo) {
		return porcupine.Unknown, porcupine.LinearizationInfo{}
	}
	ops := h(at(kvop(0, ok, wr, "x", "a", 5), 0, 1))
	r := CheckKV(ops, KVConfig{})
	if r.Valid != Unknown || len(r.Notes) == 0 {
		t.Fatalf("got %s %v, want unknown with a note", r.Valid, r.Notes)
	}
	// Another anomaly still makes it invalid.
	r = CheckKV(ops, KVConfig{StateHashes: map[string]string{"n1": "a", "n2": "b", "n3": "b"}})
	if r.Valid != Invalid {
		t.Fatalf("got %s, want invalid: a found anomaly outranks an undecided search", r.Valid)
	}
}
