package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Txn anomalies. The txn workload moves money between Accounts KV
// accounts, each starting at Balance, with transfers that are one
// transaction each: both balances, one event naming the transfer's ID on
// the ledger stream (Ledger) and one job carrying the ID on the jobs queue
// (Jobs). Balances ops read every account in one transaction. The final
// phase reads the balances once more, reads the whole ledger (a FinalRead
// of Ledger) and drains Jobs (ok Reserves of Jobs name the jobs; a job is
// counted once per job ID, so a redelivery is not a duplicate).
//
// A transfer is ok (acknowledged: it happened), info (it may have
// happened) or fail (it provably did not, e.g. its compares did not hold).
// A transfer is present when the ledger holds its event; the transfers
// present are the ones whose amounts the final balances must reflect.
const (
	// TxnSumChanged: an ok Balances read whose balances do not sum to
	// Accounts*Balance (or that missed an account).
	TxnSumChanged = "sum-changed"
	// TxnLostEvent, TxnLostJob: an ok transfer with no event, no job.
	TxnLostEvent = "lost-event"
	TxnLostJob   = "lost-job"
	// TxnDuplicateEvent, TxnDuplicateJob: a transfer with more than one
	// event, or jobs of more than one job ID.
	TxnDuplicateEvent = "duplicate-event"
	TxnDuplicateJob   = "duplicate-job"
	// TxnUnexpected: an event or job naming no transfer that was ok or
	// info (none was attempted, or every attempt failed).
	TxnUnexpected = "unexpected"
	// TxnPartial: a transfer with an event but no job, or a job but no
	// event: only part of the transaction applied. (For an ok transfer
	// the lost-* anomaly says it too.)
	TxnPartial = "partial"
	// TxnFinalBalances: an account's final balance is not its start plus
	// the amounts of the transfers present.
	TxnFinalBalances = "final-balances"
	// TxnNonlinearizableRead: an ok Balances read that sees no state of
	// the committed transfer order it may have seen. The ledger's order is
	// the commit order (each transfer's event is appended by its own
	// transaction), so a linearizable read sees the balances after some
	// prefix of the ledger: one that holds every ok transfer completed
	// before the read was invoked, none invoked after it completed, and
	// at least the prefix some read completed before it was invoked had
	// to see. A read with a sum-preserving but stale (or future) state is
	// caught here, not by sum-changed.
	TxnNonlinearizableRead = "nonlinearizable-read"
)

// TxnConfig is what the txn checker needs to know of the workload.
type TxnConfig struct {
	Accounts     int
	Balance      int64
	Ledger, Jobs string
	// Drained: the final drain of Jobs finished, so a job never seen is
	// lost. Without it lost-job and partial on the job side are undecided
	// (noted, and the result at best unknown).
	Drained bool
}

type txnTransfer struct {
	op       history.Op
	from, to int
	amount   int64
}

// CheckTxn checks a txn workload history.
func CheckTxn(ops []history.Op, cfg TxnConfig) Result {
	r := newResult()
	total := int64(cfg.Accounts) * cfg.Balance
	transfers := map[string]*txnTransfer{}
	failed := map[string]bool{}
	events := map[string]int{}
	jobs := map[string]map[string]bool{}
	var final *history.Op
	var reads []history.Op // ok Balances reads
	var ledgerOrder []string
	ledgerRead := false
	for i := range ops {
		o := ops[i]
		r.Stats[string(o.F)+"-"+string(o.Type)]++
		switch {
		case o.F == history.Transfer:
			switch o.Type {
			case history.OK, history.Info, history.Invoke:
				t := &txnTransfer{op: o, amount: int64(o.Expect)}
				if _, err := fmt.Sscanf(o.Key, "%d>%d", &t.from, &t.to); err != nil {
					r.unknown(fmt.Sprintf("transfer %s: key %q is not <from>><to>", o.Value, o.Key))
					continue
				}
				transfers[o.Value] = t
			case history.Fail:
				failed[o.Value] = true
			}
		case o.F == history.Balances && o.Type == history.OK:
			bal, err := parseBalances(o.Value, cfg.Accounts)
			var sum int64
			for _, b := range bal {
				sum += b
			}
			if err != nil || sum != total {
				r.add(TxnSumChanged, map[string]any{"op": o, "sum": sum, "want": total, "err": fmt.Sprint(err)})
			}
			if err == nil {
				reads = append(reads, o)
			}
			if final == nil || o.InvokeTime >= final.InvokeTime {
				final = &ops[i]
			}
		case o.F == history.FinalRead && o.Key == cfg.Ledger && o.Type == history.OK:
			if ledgerRead {
				continue // one full read is the ledger; later ones would count twice
			}
			ledgerRead = true
			for _, m := range o.Messages {
				events[m.Value]++
				ledgerOrder = append(ledgerOrder, m.Value)
			}
		case o.F == history.Reserve && o.Key == cfg.Jobs && o.Type == history.OK && o.JobID != "":
			if jobs[o.Value] == nil {
				jobs[o.Value] = map[string]bool{}
			}
			jobs[o.Value][o.JobID] = true
		}
	}
	if !ledgerRead {
		r.unknown("no final read of the ledger: events undecided")
		return r
	}
	for id, n := range events {
		if n > 1 {
			r.add(TxnDuplicateEvent, map[string]any{"transfer": id, "events": n})
		}
	}
	for id, ids := range jobs {
		if len(ids) > 1 {
			r.add(TxnDuplicateJob, map[string]any{"transfer": id, "job_ids": sortedKeys(ids)})
		}
	}
	for _, id := range sortedKeys(events) {
		if transfers[id] == nil {
			r.add(TxnUnexpected, map[string]any{"event": id, "failed": failed[id]})
		}
	}
	for _, id := range sortedKeys(jobs) {
		if transfers[id] == nil {
			r.add(TxnUnexpected, map[string]any{"job": id, "failed": failed[id]})
		}
	}
	checkTxnReads(&r, cfg, reads, transfers, ledgerOrder)
	undecided := 0
	for _, id := range sortedKeys(transfers) {
		t := transfers[id]
		ev, job := events[id] > 0, len(jobs[id]) > 0
		if t.op.Type == history.OK && !ev {
			r.add(TxnLostEvent, t.op)
		}
		if t.op.Type == history.OK && !job {
			if cfg.Drained {
				r.add(TxnLostJob, t.op)
			} else {
				undecided++
			}
		}
		if ev != job && (job || cfg.Drained) {
			r.add(TxnPartial, map[string]any{"op": t.op, "event": ev, "job": job})
		}
	}
	if undecided > 0 || !cfg.Drained {
		r.unknown(fmt.Sprintf("the final drain of the jobs did not finish: %d jobs of ok transfers not seen are undecided", undecided))
	}
	// Final balances: the start plus every transfer present.
	if final == nil {
		r.unknown("no ok balances read: final balances unchecked")
		return r
	}
	want := make([]int64, cfg.Accounts)
	for i := range want {
		want[i] = cfg.Balance
	}
	for id, t := range transfers {
		if events[id] > 0 && t.from < cfg.Accounts && t.to < cfg.Accounts && t.from >= 0 && t.to >= 0 {
			want[t.from] -= t.amount
			want[t.to] += t.amount
		}
	}
	got, err := parseBalances(final.Value, cfg.Accounts)
	if err != nil {
		return r // sum-changed has it
	}
	for i := range want {
		if got[i] != want[i] {
			r.add(TxnFinalBalances, map[string]any{"account": i, "balance": got[i], "want": want[i], "op": final.Index})
		}
	}
	r.Stats["events"], r.Stats["jobs"] = len(events), len(jobs)
	return r
}

// parseBalances parses a Balances op's Value: n comma-separated integers.
func parseBalances(v string, n int) ([]int64, error) {
	parts := strings.Split(v, ",")
	if len(parts) != n {
		return nil, fmt.Errorf("%d balances, want %d", len(parts), n)
	}
	out := make([]int64, n)
	for i, s := range parts {
		b, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("account %d: %q", i, s)
		}
		out[i] = b
	}
	return out, nil
}

// checkTxnReads finds nonlinearizable Balances reads: each read against
// the states after each prefix of the ledger (the commit order), within
// the prefixes real time allows. The test is sound, not complete: it
// convicts only reads that no choice of prefixes explains.
func checkTxnReads(r *Result, cfg TxnConfig, reads []history.Op, transfers map[string]*txnTransfer, ledger []string) {
	// pos: each transfer's place in the commit order; states: the
	// balances after each prefix, as the keys of prefixes.
	pos := map[string]int{}
	bal := make([]int64, cfg.Accounts)
	for i := range bal {
		bal[i] = cfg.Balance
	}
	prefixes := map[string][]int{} // balances -> the prefix lengths with them, ascending
	state := func() string {
		parts := make([]string, len(bal))
		for i, b := range bal {
			parts[i] = strconv.FormatInt(b, 10)
		}
		return strings.Join(parts, ",")
	}
	prefixes[state()] = []int{0}
	for i, id := range ledger {
		t := transfers[id]
		if t == nil || t.from < 0 || t.to < 0 || t.from >= cfg.Accounts || t.to >= cfg.Accounts {
			return // an event of no transfer (reported): the states are unknown
		}
		if _, dup := pos[id]; dup {
			return // a duplicate event (reported): which one applied is unknown
		}
		pos[id] = i
		bal[t.from] -= t.amount
		bal[t.to] += t.amount
		k := state()
		prefixes[k] = append(prefixes[k], i+1)
	}
	n := len(ledger)
	// Real-time bounds of each read's prefix: lo from the ok transfers
	// completed before it was invoked, hi from the present transfers
	// invoked after it completed. And a read completed before another was
	// invoked saw a prefix no longer than the other's: the least prefix
	// it could have seen raises the other's lo.
	type placed struct {
		op  history.Op
		pos int
	}
	var done, started []placed // present transfers by completion (ok only), by invocation
	for id, p := range pos {
		t := transfers[id].op
		if t.Type == history.OK {
			done = append(done, placed{t, p})
		}
		started = append(started, placed{t, p})
	}
	slices.SortFunc(done, func(a, b placed) int { return cmp.Compare(a.op.CompleteTime, b.op.CompleteTime) })
	slices.SortFunc(started, func(a, b placed) int { return cmp.Compare(a.op.InvokeTime, b.op.InvokeTime) })
	suffixMin := make([]int, len(started)+1) // least position among started[i:]
	suffixMin[len(started)] = n
	for i := len(started) - 1; i >= 0; i-- {
		suffixMin[i] = min(suffixMin[i+1], started[i].pos)
	}
	byInvoke := slices.Clone(reads)
	slices.SortFunc(byInvoke, func(a, b history.Op) int { return cmp.Compare(a.InvokeTime, b.InvokeTime) })
	byComplete := slices.Clone(reads)
	slices.SortFunc(byComplete, func(a, b history.Op) int { return cmp.Compare(a.CompleteTime, b.CompleteTime) })
	least := map[int]int{} // read Index -> the least prefix it could have seen; -1: none
	doneLo, readLo, readLoBy := 0, 0, -1
	nextDone, nextRead := 0, 0
	for _, rd := range byInvoke {
		for nextDone < len(done) && done[nextDone].op.CompleteTime < rd.InvokeTime {
			doneLo = max(doneLo, done[nextDone].pos+1)
			nextDone++
		}
		for nextRead < len(byComplete) && byComplete[nextRead].CompleteTime < rd.InvokeTime {
			if l := least[byComplete[nextRead].Index]; l > readLo {
				readLo, readLoBy = l, byComplete[nextRead].Index
			}
			nextRead++
		}
		lo, after := doneLo, -1
		if readLo > lo {
			lo, after = readLo, readLoBy
		}
		first, _ := slices.BinarySearchFunc(started, rd.CompleteTime, func(p placed, t time.Duration) int {
			if p.op.InvokeTime <= t {
				return -1
			}
			return 1
		})
		hi := suffixMin[first]
		seen, _ := parseBalances(rd.Value, cfg.Accounts)
		bal = seen
		ks := prefixes[state()]
		at, _ := slices.BinarySearch(ks, lo)
		if at == len(ks) || ks[at] > hi {
			least[rd.Index] = -1
			ex := map[string]any{"op": rd, "prefixes_allowed": []int{lo, hi}, "prefixes_with_these_balances": ks, "ledger": n}
			if after >= 0 {
				ex["after_read"] = after
			}
			r.add(TxnNonlinearizableRead, ex)
			continue
		}
		least[rd.Index] = ks[at]
	}
}
