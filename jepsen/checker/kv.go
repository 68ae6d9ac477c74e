package checker

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// KV anomalies. The kv workload runs read, write and cas (Put with
// IfRevision) on a few keys of one KV store; every written value is unique
// and non-empty, and a read of an absent key is an ok read of "" at
// revision 0.
const (
	// KVNonLinearizable: the ops on one key have no linearization as a
	// register (porcupine). Counted once per key. Ok ops take effect
	// between invocation and completion; Info writes and cas may take
	// effect at any time after invocation, or never (they are given a
	// completion after the end of the history, which is the same thing);
	// Fail ops and Info reads are left out. A cas succeeds iff the key's
	// current revision equals Expect (0: the key is absent). A value's
	// revision is learnt from the history (the ok write or cas that wrote
	// it, or any read that saw it); a value whose revision was never seen
	// matches any Expect that is not the known revision of another value.
	KVNonLinearizable = "nonlinearizable"
	// KVValueRevisionMismatch: one value of a key was seen with two
	// different revisions (write or cas result, or reads). Each change has
	// its own revision, fixed when it commits. Counted once per value.
	KVValueRevisionMismatch = "value-revision-mismatch"
	// KVRevisionRegressionProcess: a process saw a key's revision go
	// backwards. Over one process's ok ops on a key, in order, each read's
	// revision must be >= the previous observed revision, and each write
	// or cas result must be > it. Counted once per offending op.
	KVRevisionRegressionProcess = "revision-regression-process"
	// KVRevisionRegressionWrite: ok writes (or cas) W1 and W2 on the same
	// key, W1 completed before W2 was invoked, yet revision(W2) <=
	// revision(W1). Counted once per W2.
	KVRevisionRegressionWrite = "revision-regression-write"
	// KVStateHashDivergence: the nodes' final state hashes, taken after
	// healing once every node applied the same index, are not all equal.
	// Counted once per node whose hash differs from the most common one.
	KVStateHashDivergence = "state-hash-divergence"
)

// KVConfig is what the kv checker needs besides the history.
type KVConfig struct {
	// Timeout bounds porcupine's search; past it the result is Unknown.
	// 0 means 30s.
	Timeout time.Duration
	// VisualizationPath, when set, is where porcupine's HTML visualisation
	// is written.
	VisualizationPath string
	// Windows are the fault windows, annotated in the visualisation.
	Windows []history.Window
	// StateHashes maps node -> final state hash; nil skips the check.
	StateHashes map[string]string
}

// kvInput and kvOutput are porcupine's view of an op.
type kvInput struct {
	Key    string
	F      history.F
	Value  string // written value (write, cas)
	Expect uint64
	Info   bool
}

type kvOutput struct {
	Value    string // value read
	Revision uint64
}

// revisions maps key -> value -> the revision(s) it was seen with.
type revisions map[string]map[string][]uint64

func (r revisions) see(key, value string, rev uint64) {
	if value == "" {
		return
	}
	m := r[key]
	if m == nil {
		m = map[string][]uint64{}
		r[key] = m
	}
	for _, x := range m[value] {
		if x == rev {
			return
		}
	}
	m[value] = append(m[value], rev)
}

// kvModel is a register per key, partitioned by key. The state is the
// current value ("" when absent).
func kvModel(revs revisions) porcupine.Model {
	// known[key][rev] is true when rev is the known revision of some value.
	known := map[string]map[uint64]bool{}
	for k, vals := range revs {
		known[k] = map[uint64]bool{}
		for _, rs := range vals {
			for _, r := range rs {
				known[k][r] = true
			}
		}
	}
	matches := func(key, state string, expect uint64) bool {
		if state == "" {
			return expect == 0
		}
		if rs := revs[key][state]; len(rs) > 0 {
			return rs[0] == expect
		}
		return expect != 0 && !known[key][expect]
	}
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range ops {
				k := op.Input.(kvInput).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return "" },
		Step: func(state, input, output any) (bool, any) {
			s, in := state.(string), input.(kvInput)
			switch in.F {
			case history.Read:
				return output.(kvOutput).Value == s, s
			case history.Write:
				return true, in.Value
			case history.CAS:
				if matches(in.Key, s, in.Expect) {
					return true, in.Value
				}
				// An info cas that did not match changed nothing; an ok
				// cas must have matched.
				return in.Info, s
			}
			return false, s
		},
		DescribeOperation: func(input, output any) string {
			in, out := input.(kvInput), output.(kvOutput)
			q := ""
			if in.Info {
				q = " ?"
			}
			switch in.F {
			case history.Read:
				return fmt.Sprintf("read() -> %q@%d", out.Value, out.Revision)
			case history.Write:
				return fmt.Sprintf("write(%q) -> %d%s", in.Value, out.Revision, q)
			case history.CAS:
				return fmt.Sprintf("cas(@%d, %q) -> %d%s", in.Expect, in.Value, out.Revision, q)
			}
			return string(in.F)
		},
		DescribeState: func(state any) string { return fmt.Sprintf("%q", state.(string)) },
	}
}

// checkOperations is porcupine's checker; tests replace it to reach the
// timeout path deterministically.
var checkOperations = porcupine.CheckOperationsVerbose

// CheckKV checks a kv workload history. See the KV* constants for the
// anomalies.
func CheckKV(ops []history.Op, cfg KVConfig) Result {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	r := newResult()
	revs := revisions{}
	var end time.Duration
	for _, op := range ops {
		end = max(end, op.InvokeTime, op.CompleteTime)
		r.Stats[string(op.F)+"/"+string(op.Type)]++
		if op.Type != history.OK {
			continue
		}
		switch op.F {
		case history.Read:
			revs.see(op.Key, op.Value, op.Revision)
		case history.Write, history.CAS:
			revs.see(op.Key, op.Value, op.Revision)
		}
	}
	checkValueRevisions(&r, revs)
	checkProcessRevisions(&r, ops)
	checkWriteRevisions(&r, ops)
	checkStateHashes(&r, cfg.StateHashes)
	checkLinearizable(&r, ops, revs, end, cfg)
	return r
}

func checkValueRevisions(r *Result, revs revisions) {
	keys := sortedKeys(revs)
	for _, k := range keys {
		vals := revs[k]
		for _, v := range sortedKeys(vals) {
			if rs := vals[v]; len(rs) > 1 {
				r.add(KVValueRevisionMismatch, map[string]any{"key": k, "value": v, "revisions": rs})
			}
		}
	}
}

func checkProcessRevisions(r *Result, ops []history.Op) {
	type pk struct {
		p int
		k string
	}
	last := map[pk]history.Op{}
	ops = append([]history.Op(nil), ops...)
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].InvokeTime < ops[j].InvokeTime })
	for _, op := range ops { // a process is sequential: invocation order is its order
		if op.Type != history.OK {
			continue
		}
		switch op.F {
		case history.Read, history.Write, history.CAS:
		default:
			continue
		}
		id := pk{op.Process, op.Key}
		prev, seen := last[id]
		if seen {
			bad := op.Revision < prev.Revision
			if op.F != history.Read && op.Revision == prev.Revision {
				bad = true
			}
			if bad {
				r.add(KVRevisionRegressionProcess, map[string]any{"process": op.Process, "key": op.Key, "before": prev, "after": op})
			}
		}
		if !seen || op.Revision >= prev.Revision {
			last[id] = op
		}
	}
}

func checkWriteRevisions(r *Result, ops []history.Op) {
	byKey := map[string][]history.Op{}
	for _, op := range ops {
		if op.Type == history.OK && (op.F == history.Write || op.F == history.CAS) {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	for _, k := range sortedKeys(byKey) {
		ws := byKey[k]
		byComplete := append([]history.Op(nil), ws...)
		sort.Slice(byComplete, func(i, j int) bool { return byComplete[i].CompleteTime < byComplete[j].CompleteTime })
		sort.Slice(ws, func(i, j int) bool { return ws[i].InvokeTime < ws[j].InvokeTime })
		// Sweep W2 in invocation order, folding in every W1 completed before it.
		var top history.Op
		have, j := false, 0
		for _, w2 := range ws {
			for j < len(byComplete) && byComplete[j].CompleteTime < w2.InvokeTime {
				if !have || byComplete[j].Revision > top.Revision {
					top, have = byComplete[j], true
				}
				j++
			}
			if have && w2.Revision <= top.Revision {
				r.add(KVRevisionRegressionWrite, map[string]any{"key": k, "earlier": top, "later": w2})
			}
		}
	}
}

func checkStateHashes(r *Result, hashes map[string]string) {
	if hashes == nil {
		return
	}
	count := map[string]int{}
	for _, h := range hashes {
		count[h]++
	}
	common := ""
	for _, h := range sortedKeys(count) {
		if count[h] > count[common] {
			common = h
		}
	}
	for _, n := range sortedKeys(hashes) {
		if hashes[n] != common {
			r.add(KVStateHashDivergence, map[string]any{"node": n, "hash": hashes[n], "majority": common, "hashes": hashes})
		}
	}
}

func checkLinearizable(r *Result, ops []history.Op, revs revisions, end time.Duration, cfg KVConfig) {
	var pops []porcupine.Operation
	for _, op := range ops {
		switch op.F {
		case history.Read, history.Write, history.CAS:
		default:
			continue
		}
		if op.Type == history.Fail || (op.Type != history.OK && op.F == history.Read) {
			continue
		}
		info := op.Type != history.OK
		ret := int64(op.CompleteTime)
		if info {
			ret = int64(end) + 1 // after everything: may take effect any time, or never
		}
		pops = append(pops, porcupine.Operation{
			ClientId: op.Process,
			Input:    kvInput{Key: op.Key, F: op.F, Value: op.Value, Expect: op.Expect, Info: info},
			Call:     int64(op.InvokeTime),
			Output:   kvOutput{Value: op.Value, Revision: op.Revision},
			Return:   ret,
			Metadata: op.Index,
		})
	}
	model := kvModel(revs)
	res, info := checkOperations(model, pops, cfg.Timeout)
	switch res {
	case porcupine.Unknown:
		r.unknown(fmt.Sprintf("porcupine did not finish within %s", cfg.Timeout))
	case porcupine.Illegal:
		// Name the keys: check each partition on its own.
		for _, part := range model.Partition(pops) {
			if porcupine.CheckOperationsTimeout(model, part, cfg.Timeout) == porcupine.Illegal {
				r.add(KVNonLinearizable, map[string]any{"key": part[0].Input.(kvInput).Key, "ops": len(part)})
			}
		}
	}
	if cfg.VisualizationPath != "" {
		var anns []porcupine.Annotation
		for _, w := range cfg.Windows {
			anns = append(anns, porcupine.Annotation{
				Tag:             "nemesis",
				Start:           int64(w.Start),
				End:             int64(w.Stop),
				Description:     w.Kind,
				Details:         strings.TrimSpace(w.Kind + " " + w.Detail),
				BackgroundColor: "#f6d8d8",
			})
		}
		info.AddAnnotations(anns)
		if err := porcupine.VisualizePath(model, info, cfg.VisualizationPath); err != nil {
			r.Notes = append(r.Notes, "visualisation: "+err.Error())
		}
	}
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
