package checker

import (
	"fmt"
	"testing"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

var txnCfg = TxnConfig{Accounts: 3, Balance: 10, Ledger: "ledger", Jobs: "jobs", Drained: true}

func xfer(p int, t history.Type, id string, from, to, amount int) history.Op {
	return history.Op{Process: p, Type: t, F: history.Transfer, Key: fmt.Sprintf("%d>%d", from, to), Value: id, Expect: uint64(amount)}
}

func bals(p int, v string) history.Op {
	return history.Op{Process: p, Type: ok, F: history.Balances, Key: "accounts", Value: v}
}

func ledger(ids ...string) history.Op {
	o := history.Op{Process: 99, Type: ok, F: history.FinalRead, Key: "ledger"}
	for i, id := range ids {
		o.Messages = append(o.Messages, history.Message{Offset: uint64(i), Value: id})
	}
	return o
}

// job is an ok reserve of the job jobID carrying transfer id.
func job(id, jobID string) history.Op {
	return history.Op{Process: 98, Type: ok, F: history.Reserve, Key: "jobs", Value: id, JobID: jobID}
}

func TestTxnValid(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
	}{
		{"no transfers", h(bals(0, "10,10,10"), ledger())},
		{"ok transfers, a redelivered job, a failed transfer", h(
			at(xfer(0, ok, "a", 0, 1, 3), 0, 1),
			at(bals(1, "7,13,10"), 2, 3),
			at(xfer(1, ok, "b", 1, 2, 5), 4, 5),
			at(xfer(2, fail, "c", 2, 0, 1), 4, 5),
			at(bals(0, "7,8,15"), 6, 7),
			at(ledger("a", "b"), 8, 9),
			at(job("a", "j1"), 10, 11),
			at(job("b", "j2"), 12, 13),
			at(job("b", "j2"), 14, 15),
		)},
		{"reads concurrent with a transfer see either state, in either order", h(
			at(xfer(0, ok, "a", 0, 1, 3), 0, 10),
			at(bals(1, "7,13,10"), 2, 3),
			at(bals(2, "10,10,10"), 2, 4),
			at(bals(1, "7,13,10"), 5, 6),
			at(ledger("a"), 11, 12),
			at(job("a", "j1"), 13, 14),
		)},
		{"info transfers: one fully present, one fully absent", h(
			at(xfer(0, info, "a", 0, 1, 3), 0, 10),
			at(xfer(1, info, "b", 1, 2, 4), 0, 10),
			at(bals(2, "7,13,10"), 11, 12),
			at(ledger("a"), 13, 14),
			at(job("a", "j1"), 15, 16),
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if r := CheckTxn(tc.ops, txnCfg); r.Valid != Valid {
				t.Errorf("got %s %v, want valid", r, r.Examples)
			}
		})
	}
}

func TestTxnInvalid(t *testing.T) {
	base := func(extra ...history.Op) []history.Op {
		return h(append([]history.Op{at(xfer(0, ok, "a", 0, 1, 3), 0, 1)}, extra...)...)
	}
	tests := []struct {
		name, anomaly string
		ops           []history.Op
	}{
		{"sum changed in a read", TxnSumChanged, base(at(bals(1, "7,10,10"), 2, 3), at(ledger("a"), 4, 5), at(job("a", "j1"), 6, 7))},
		{"read misses an account", TxnSumChanged, base(at(bals(1, "7,13"), 2, 3), at(ledger("a"), 4, 5), at(job("a", "j1"), 6, 7))},
		{"ok transfer without event", TxnLostEvent, base(at(bals(1, "7,13,10"), 2, 3), at(ledger(), 4, 5), at(job("a", "j1"), 6, 7))},
		{"ok transfer without job (half a transaction)", TxnLostJob, base(at(bals(1, "7,13,10"), 2, 3), at(ledger("a"), 4, 5))},
		{"two events", TxnDuplicateEvent, base(at(bals(1, "7,13,10"), 2, 3), at(ledger("a", "a"), 4, 5), at(job("a", "j1"), 6, 7))},
		{"two jobs", TxnDuplicateJob, base(at(bals(1, "7,13,10"), 2, 3), at(ledger("a"), 4, 5), at(job("a", "j1"), 6, 7), at(job("a", "j2"), 8, 9))},
		{"event of a failed transfer", TxnUnexpected, base(at(xfer(1, fail, "b", 1, 2, 1), 2, 3), at(bals(1, "7,13,10"), 4, 5), at(ledger("a", "b"), 6, 7), at(job("a", "j1"), 8, 9))},
		{"job of no transfer", TxnUnexpected, base(at(bals(1, "7,13,10"), 2, 3), at(ledger("a"), 4, 5), at(job("a", "j1"), 6, 7), at(job("zz", "j9"), 8, 9))},
		{"info transfer half present", TxnPartial, base(at(xfer(1, info, "b", 1, 2, 1), 2, 10), at(bals(1, "7,12,11"), 11, 12), at(ledger("a", "b"), 13, 14), at(job("a", "j1"), 15, 16))},
		{"a read misses a transfer acknowledged before it", TxnNonlinearizableRead, base(at(bals(1, "10,10,10"), 2, 3), at(ledger("a"), 4, 5), at(job("a", "j1"), 6, 7))},
		{"a read sees a transfer invoked after it", TxnNonlinearizableRead, h(at(bals(1, "7,13,10"), 0, 1), at(xfer(0, ok, "a", 0, 1, 3), 2, 3), at(ledger("a"), 4, 5), at(job("a", "j1"), 6, 7))},
		{"reads go backwards", TxnNonlinearizableRead, h(
			at(xfer(0, info, "a", 0, 1, 3), 0, 100),
			at(bals(1, "7,13,10"), 10, 11),
			at(bals(2, "10,10,10"), 12, 13),
			at(ledger("a"), 101, 102), at(job("a", "j1"), 103, 104),
		)},
		{"a read sees a state outside the commit order", TxnNonlinearizableRead, h(
			at(xfer(0, info, "a", 0, 1, 3), 0, 100),
			at(xfer(1, info, "b", 1, 2, 5), 0, 100),
			at(bals(2, "10,5,15"), 10, 11), // b without a, but a committed first
			at(ledger("a", "b"), 101, 102), at(job("a", "j1"), 103, 104), at(job("b", "j2"), 103, 104),
		)},
		{"final balances miss a present transfer", TxnFinalBalances, base(at(xfer(1, info, "b", 1, 2, 1), 2, 10), at(bals(1, "7,13,10"), 11, 12), at(ledger("a", "b"), 13, 14), at(job("a", "j1"), 15, 16), at(job("b", "j2"), 15, 16))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := CheckTxn(tc.ops, txnCfg)
			if r.Valid != Invalid || r.Anomalies[tc.anomaly] == 0 {
				t.Errorf("got %s, want invalid with %s", r, tc.anomaly)
			}
		})
	}
}

// TestTxnUndecided: without a finished drain a missing job is undecided,
// and without a ledger read nothing is decided: unknown, not valid.
func TestTxnUndecided(t *testing.T) {
	cfg := txnCfg
	cfg.Drained = false
	r := CheckTxn(h(at(xfer(0, ok, "a", 0, 1, 3), 0, 1), at(bals(1, "7,13,10"), 2, 3), at(ledger("a"), 4, 5)), cfg)
	if r.Valid != Unknown || r.Anomalies[TxnLostJob] != 0 {
		t.Errorf("undrained: got %s, want unknown without lost-job", r)
	}
	if r := CheckTxn(h(at(xfer(0, ok, "a", 0, 1, 3), 0, 1), at(bals(1, "7,13,10"), 2, 3)), txnCfg); r.Valid != Unknown {
		t.Errorf("no ledger read: got %s, want unknown", r)
	}
}
