package checker

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Lock anomalies. The lock workload's processes take one lock through the
// SDK's concurrency.Mutex (Acquire: ok ops carry the fencing token as
// Revision), write under it (FencedWrite: a transaction comparing that the
// hold is current, then putting the protected key and appending an event,
// both with the payload "<token>/<process>-<n>"; the token is also Expect)
// and release it. Some holders stall past the lock's TTL while they think
// they hold it, as a paused process would, and then write. The final
// phase reads the whole events stream (a FinalRead of Events: the
// committed order of the accepted writes) and the protected key (a Read
// of Value).
//
// A write is ok (accepted), fail (refused: its compare did not hold) or
// info (may have been accepted, now or later). Info writes count wherever
// the stream shows them and make no real-time claim.
const (
	// LockTokenRegression: in the committed order an accepted write whose
	// token is lower than an earlier accepted write's: a stale holder
	// wrote after its successor.
	LockTokenRegression = "token-regression"
	// LockStaleWrite: an ok write whose token is lower than the token of
	// an ok acquire or ok write that completed before it was invoked: the
	// lock had provably moved on when the write was sent, and it was
	// accepted anyway.
	LockStaleWrite = "stale-write"
	// LockTokenOrder: an ok acquire whose token is not greater than the
	// token of an ok acquire or write that completed before it was
	// invoked: tokens must only grow.
	LockTokenOrder = "token-order"
	// LockSharedToken: one token used by two processes (ok acquires, or
	// the writes the stream holds): two holds with one token cannot be
	// told apart by a fence.
	LockSharedToken = "shared-token"
	// LockLostWrite: an ok write whose event the stream lacks.
	LockLostWrite = "lost-write"
	// LockDuplicateWrite: a write's event in the stream more than once.
	LockDuplicateWrite = "duplicate-write"
	// LockUnexpected: an event of no write that was ok or info: none was
	// attempted, or its attempt was refused by the fence (failed).
	LockUnexpected = "unexpected"
	// LockFinalValue: the protected key's final value is not the payload
	// of the last event (the put and the append of one write came apart).
	LockFinalValue = "final-value"
)

// LockConfig is what the lock checker needs to know of the workload.
type LockConfig struct {
	// Events is the events stream's path; Value the protected key's Key
	// in the final Read.
	Events, Value string
}

// lockWrite is a parsed fenced-write payload.
type lockWrite struct {
	token   uint64
	process int
}

// ParseLockPayload splits a fenced write's payload "<token>/<process>-<n>".
func ParseLockPayload(v string) (token uint64, process int, err error) {
	t, rest, ok := strings.Cut(v, "/")
	p, _, ok2 := strings.Cut(rest, "-")
	if !ok || !ok2 {
		return 0, 0, fmt.Errorf("payload %q is not <token>/<process>-<n>", v)
	}
	if token, err = strconv.ParseUint(t, 10, 64); err != nil {
		return 0, 0, fmt.Errorf("payload %q: token: %w", v, err)
	}
	if process, err = strconv.Atoi(p); err != nil {
		return 0, 0, fmt.Errorf("payload %q: process: %w", v, err)
	}
	return token, process, nil
}

// CheckLock checks a lock workload history.
func CheckLock(ops []history.Op, cfg LockConfig) Result {
	r := newResult()
	writes := map[string]history.Op{} // payload -> the write, ok/info/invoke
	failed := map[string]bool{}
	var witnesses []history.Op // ok acquires and ok writes, with their token in Revision
	owners := map[uint64]map[int]bool{}
	own := func(token uint64, process int) {
		if owners[token] == nil {
			owners[token] = map[int]bool{}
		}
		owners[token][process] = true
	}
	var events []history.Message
	ledgerRead := false
	var final *history.Op
	for i := range ops {
		o := ops[i]
		r.Stats[string(o.F)+"-"+string(o.Type)]++
		switch {
		case o.F == history.Acquire && o.Type == history.OK:
			own(o.Revision, o.Process)
			witnesses = append(witnesses, o)
		case o.F == history.FencedWrite:
			if o.Type == history.Fail {
				failed[o.Value] = true
				continue
			}
			writes[o.Value] = o
			if o.Type == history.OK {
				w := o
				w.Revision = o.Expect
				witnesses = append(witnesses, w)
			}
		case o.F == history.FinalRead && o.Key == cfg.Events && o.Type == history.OK:
			if !ledgerRead {
				ledgerRead = true
				events = o.Messages
			}
		case o.F == history.Read && o.Key == cfg.Value && o.Type == history.OK:
			if final == nil || o.InvokeTime >= final.InvokeTime {
				final = &ops[i]
			}
		}
	}
	checkLockRealTime(&r, witnesses)

	if !ledgerRead {
		r.unknown("no final read of the events stream: the committed order is undecided")
		return r
	}
	// The committed order: tokens never go backwards.
	seen := map[string]int{}
	var top uint64
	var topEvent history.Message
	for _, m := range events {
		seen[m.Value]++
		token, process, err := ParseLockPayload(m.Value)
		if err != nil {
			r.add(LockUnexpected, map[string]any{"event": m, "err": err.Error()})
			continue
		}
		own(token, process)
		if token < top {
			r.add(LockTokenRegression, map[string]any{"event": m, "token": token, "after": topEvent, "after_token": top})
		} else {
			top, topEvent = token, m
		}
	}
	for _, token := range orderedKeys(owners) {
		if len(owners[token]) > 1 {
			r.add(LockSharedToken, map[string]any{"token": token, "processes": orderedKeys(owners[token])})
		}
	}
	for _, v := range sortedKeys(seen) {
		n := seen[v]
		if n > 1 {
			r.add(LockDuplicateWrite, map[string]any{"write": v, "events": n})
		}
		if _, ok := writes[v]; !ok {
			r.add(LockUnexpected, map[string]any{"event": v, "failed": failed[v]})
		}
	}
	for _, v := range sortedKeys(writes) {
		if w := writes[v]; w.Type == history.OK && seen[v] == 0 {
			r.add(LockLostWrite, w)
		}
	}
	r.Stats["events"] = len(events)
	r.Stats["tokens"] = len(owners)

	// The protected key ends as the last accepted write left it.
	if final == nil {
		r.unknown("no ok final read of the protected key: final-value unchecked")
		return r
	}
	want := ""
	if len(events) > 0 {
		want = events[len(events)-1].Value
	}
	if final.Value != want {
		r.add(LockFinalValue, map[string]any{"value": final.Value, "want": want, "op": final.Index})
	}
	return r
}

// checkLockRealTime finds writes and acquires whose token is below what
// had provably happened before they were invoked: each witness (ok
// acquire or write, token in Revision) against the greatest token of the
// witnesses that completed before its invocation.
func checkLockRealTime(r *Result, witnesses []history.Op) {
	byComplete := slices.Clone(witnesses)
	slices.SortFunc(byComplete, func(a, b history.Op) int { return cmp.Compare(a.CompleteTime, b.CompleteTime) })
	byInvoke := slices.Clone(witnesses)
	slices.SortFunc(byInvoke, func(a, b history.Op) int { return cmp.Compare(a.InvokeTime, b.InvokeTime) })
	var top uint64
	var topOp history.Op
	next := 0
	for _, o := range byInvoke {
		for next < len(byComplete) && byComplete[next].CompleteTime < o.InvokeTime {
			if c := byComplete[next]; c.Revision > top {
				top, topOp = c.Revision, c
			}
			next++
		}
		switch {
		case o.F == history.FencedWrite && o.Revision < top:
			r.add(LockStaleWrite, map[string]any{"write": o, "token": o.Revision, "after": topOp, "after_token": top})
		case o.F == history.Acquire && o.Revision <= top && top > 0:
			r.add(LockTokenOrder, map[string]any{"acquire": o, "token": o.Revision, "after": topOp, "after_token": top})
		}
	}
}

// orderedKeys returns m's keys in order.
func orderedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
