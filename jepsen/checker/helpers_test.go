package checker

import (
	"reflect"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// h builds a history: each op's Index is its position, times are given in
// milliseconds by the caller through at.
func h(ops ...history.Op) []history.Op {
	for i := range ops {
		ops[i].Index = i
	}
	return ops
}

// at sets an op's invocation and completion times in milliseconds.
func at(op history.Op, inv, cmp int) history.Op {
	op.InvokeTime = time.Duration(inv) * time.Millisecond
	op.CompleteTime = time.Duration(cmp) * time.Millisecond
	return op
}

// wantAnomalies fails t unless r reports exactly the anomalies named.
func wantAnomalies(t *testing.T, r Result, want ...string) {
	t.Helper()
	got := r.AnomalyNames()
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("anomalies = %v, want %v\nresult: %+v", got, want, r)
	}
	wantValid := Valid
	if len(want) > 0 {
		wantValid = Invalid
	}
	if r.Valid != wantValid {
		t.Fatalf("valid = %s, want %s (notes %v)", r.Valid, wantValid, r.Notes)
	}
	for _, a := range want {
		if len(r.Examples[a]) == 0 {
			t.Errorf("anomaly %s has no example", a)
		}
	}
}
