package checker

import (
	"fmt"
	"testing"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

var lockCfg = LockConfig{Events: "events", Value: "state/value"}

func acquire(p int, t history.Type, token uint64) history.Op {
	return history.Op{Process: p, Type: t, F: history.Acquire, Key: "lock", Revision: token}
}

// fenced is a fenced write of process p under token; n numbers it.
func fenced(p int, t history.Type, token uint64, n int) history.Op {
	return history.Op{Process: p, Type: t, F: history.FencedWrite, Key: "lock", Value: payload(p, token, n), Expect: token}
}

func payload(p int, token uint64, n int) string { return fmt.Sprintf("%d/%d-%d", token, p, n) }

func events(payloads ...string) history.Op {
	o := history.Op{Process: 99, Type: ok, F: history.FinalRead, Key: "events"}
	for i, v := range payloads {
		o.Messages = append(o.Messages, history.Message{Offset: uint64(i), Value: v})
	}
	return o
}

func finalValue(v string) history.Op {
	return history.Op{Process: 99, Type: ok, F: history.Read, Key: "state/value", Value: v}
}

func TestLockValid(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
	}{
		{"nothing written", h(at(events(), 0, 1), at(finalValue(""), 2, 3))},
		{"two holders in turn, a refused stale write, an info write absent", h(
			at(acquire(0, ok, 5), 0, 1),
			at(fenced(0, ok, 5, 1), 2, 3),
			at(fenced(0, info, 5, 2), 4, 20), // the holder stalled: its write timed out
			at(acquire(1, ok, 9), 10, 11),
			at(fenced(1, ok, 9, 1), 12, 13),
			at(fenced(0, fail, 5, 3), 21, 22), // the fence refused the stale holder
			at(fenced(1, ok, 9, 2), 23, 24),
			at(events(payload(0, 5, 1), payload(1, 9, 1), payload(1, 9, 2)), 30, 31),
			at(finalValue(payload(1, 9, 2)), 32, 33),
		)},
		{"an info write present before the successor's", h(
			at(acquire(0, ok, 5), 0, 1),
			at(fenced(0, info, 5, 1), 2, 20),
			at(acquire(1, ok, 9), 10, 11),
			at(fenced(1, ok, 9, 1), 12, 13),
			at(events(payload(0, 5, 1), payload(1, 9, 1)), 30, 31),
			at(finalValue(payload(1, 9, 1)), 32, 33),
		)},
		{"concurrent acquires and writes: no real-time order", h(
			at(acquire(0, ok, 9), 0, 10),
			at(acquire(1, info, 0), 0, 10),
			at(fenced(1, ok, 5, 1), 0, 10), // a hold taken by the info acquire
			at(fenced(0, ok, 9, 1), 11, 12),
			at(events(payload(1, 5, 1), payload(0, 9, 1)), 30, 31),
			at(finalValue(payload(0, 9, 1)), 32, 33),
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantAnomalies(t, CheckLock(tc.ops, lockCfg))
		})
	}
}

func TestLockInvalid(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
		want []string
	}{
		{"a stale holder's write accepted after its successor's", h(
			at(acquire(0, ok, 5), 0, 1),
			at(fenced(0, ok, 5, 1), 2, 3),
			at(acquire(1, ok, 9), 10, 11),
			at(fenced(1, ok, 9, 1), 12, 13),
			at(fenced(0, ok, 5, 2), 14, 15), // accepted: no fence
			at(events(payload(0, 5, 1), payload(1, 9, 1), payload(0, 5, 2)), 30, 31),
			at(finalValue(payload(0, 5, 2)), 32, 33),
		), []string{LockStaleWrite, LockTokenRegression}},
		{"an info stale write in the committed order", h(
			at(acquire(0, ok, 5), 0, 1),
			at(fenced(0, info, 5, 1), 2, 40),
			at(acquire(1, ok, 9), 10, 11),
			at(fenced(1, ok, 9, 1), 12, 13),
			at(events(payload(1, 9, 1), payload(0, 5, 1)), 50, 51),
			at(finalValue(payload(0, 5, 1)), 52, 53),
		), []string{LockTokenRegression}},
		{"a write sent after a later acquire completed is accepted (stream not read in order)", h(
			at(acquire(0, ok, 5), 0, 1),
			at(acquire(1, ok, 9), 10, 11),
			at(fenced(0, ok, 5, 1), 12, 13),
			at(events(payload(0, 5, 1)), 30, 31),
			at(finalValue(payload(0, 5, 1)), 32, 33),
		), []string{LockStaleWrite}},
		{"tokens go backwards between acquires", h(
			at(acquire(0, ok, 9), 0, 1),
			at(acquire(1, ok, 5), 10, 11),
			at(events(), 30, 31),
			at(finalValue(""), 32, 33),
		), []string{LockTokenOrder}},
		{"two processes granted one token", h(
			at(acquire(0, ok, 5), 0, 10),
			at(acquire(1, ok, 5), 0, 10),
			at(fenced(0, ok, 5, 1), 11, 12),
			at(fenced(1, ok, 5, 1), 11, 12),
			at(events(payload(0, 5, 1), payload(1, 5, 1)), 30, 31),
			at(finalValue(payload(1, 5, 1)), 32, 33),
		), []string{LockSharedToken}},
		{"a refused write applied, an ok write lost, one twice", h(
			at(acquire(0, ok, 5), 0, 1),
			at(fenced(0, fail, 5, 1), 2, 3),
			at(fenced(0, ok, 5, 2), 4, 5),
			at(fenced(0, ok, 5, 3), 6, 7),
			at(events(payload(0, 5, 1), payload(0, 5, 3), payload(0, 5, 3)), 30, 31),
			at(finalValue(payload(0, 5, 3)), 32, 33),
		), []string{LockDuplicateWrite, LockLostWrite, LockUnexpected}},
		{"the protected key and the events came apart", h(
			at(acquire(0, ok, 5), 0, 1),
			at(fenced(0, ok, 5, 1), 2, 3),
			at(fenced(0, ok, 5, 2), 4, 5),
			at(events(payload(0, 5, 1), payload(0, 5, 2)), 30, 31),
			at(finalValue(payload(0, 5, 1)), 32, 33),
		), []string{LockFinalValue}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantAnomalies(t, CheckLock(tc.ops, lockCfg), tc.want...)
		})
	}
}

func TestLockUnknown(t *testing.T) {
	ops := h(at(acquire(0, ok, 5), 0, 1), at(fenced(0, ok, 5, 1), 2, 3))
	if r := CheckLock(ops, lockCfg); r.Valid != Unknown || len(r.Notes) == 0 {
		t.Fatalf("no final reads: %+v, want unknown with a note", r)
	}
	// Anomalies decided without the final reads still make it invalid.
	ops = h(at(acquire(0, ok, 9), 0, 1), at(acquire(1, ok, 5), 2, 3))
	if r := CheckLock(ops, lockCfg); r.Valid != Invalid || r.Anomalies[LockTokenOrder] != 1 {
		t.Fatalf("token order without final reads: %+v, want invalid", r)
	}
	ops = h(at(events(), 0, 1))
	if r := CheckLock(ops, lockCfg); r.Valid != Unknown {
		t.Fatalf("no final value read: %+v, want unknown", r)
	}
}

func TestParseLockPayload(t *testing.T) {
	token, p, err := ParseLockPayload("12/3-4")
	if err != nil || token != 12 || p != 3 {
		t.Fatalf("ParseLockPayload = %d, %d, %v; want 12, 3", token, p, err)
	}
	for _, bad := range []string{"", "12", "12/3", "x/3-4", "12/x-4"} {
		if _, _, err := ParseLockPayload(bad); err == nil {
			t.Errorf("ParseLockPayload(%q) = nil error", bad)
		}
	}
}
