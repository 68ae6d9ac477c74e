package checker

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

type register struct {
	value string
	rev   uint64
}

// simKV runs procs clients doing n ops each on two keys of a correct
// linearizable KV store.
func simKV(seed uint64, procs, n int) []history.Op {
	s := newSim(seed, 0.15)
	state := map[string]register{}
	var rev uint64
	for p := range procs {
		lastRev := map[string]uint64{}
		left := n
		var next func()
		next = func() {
			if left == 0 {
				return
			}
			left--
			key := []string{"x", "y"}[s.rng.IntN(2)]
			op := history.Op{Process: p, Key: key, Value: fmt.Sprintf("%d-%d", p, left)}
			var effect func(*history.Op) history.Type
			switch s.rng.IntN(3) {
			case 0:
				op.F, op.Value = history.Read, ""
				effect = func(o *history.Op) history.Type {
					o.Value, o.Revision = state[key].value, state[key].rev
					return history.OK
				}
			case 1:
				op.F = history.Write
				effect = func(o *history.Op) history.Type {
					rev++
					state[key] = register{o.Value, rev}
					o.Revision = rev
					return history.OK
				}
			default:
				op.F, op.Expect = history.CAS, lastRev[key]
				effect = func(o *history.Op) history.Type {
					if state[key].rev != o.Expect {
						return history.Fail
					}
					rev++
					state[key] = register{o.Value, rev}
					o.Revision = rev
					return history.OK
				}
			}
			s.call(op, op.F != history.Read, effect, func(o history.Op) {
				if o.Type == history.OK {
					lastRev[key] = o.Revision
				}
				s.at(s.now+s.ms(0, 3), next)
			})
		}
		s.at(s.ms(0, 5), next)
	}
	return s.run()
}

func TestKVSimulatedHistoriesValid(t *testing.T) {
	for seed := range uint64(30) {
		ops := simKV(seed, 5, 40)
		r := CheckKV(ops, KVConfig{Timeout: 10 * time.Second})
		if r.Valid != Valid {
			t.Fatalf("seed %d: correct system judged %s: %v %v", seed, r.Valid, r.Anomalies, r.Examples)
		}
	}
}

// Corrupting one result of a correct history must be caught.
func TestKVSimulatedCorruptionsCaught(t *testing.T) {
	caught := map[string]int{}
	for seed := range uint64(30) {
		ops := simKV(seed, 5, 40)
		// A read that saw a written value now sees a value never written.
		for i := range ops {
			if ops[i].F == history.Read && ops[i].Type == history.OK && ops[i].Value != "" {
				bad := append([]history.Op(nil), ops...)
				bad[i].Value = "never-written"
				r := CheckKV(bad, KVConfig{Timeout: 10 * time.Second})
				if r.Valid != Invalid {
					t.Fatalf("seed %d: read of an unwritten value not caught: %s", seed, r)
				}
				for _, a := range r.AnomalyNames() {
					caught[a]++
				}
				break
			}
		}
		// An acknowledged write's revision replaced by an old one.
		var prev *history.Op
		for i := range ops {
			if ops[i].F == history.Write && ops[i].Type == history.OK {
				if prev != nil && prev.Key == ops[i].Key && prev.Precedes(ops[i]) {
					bad := append([]history.Op(nil), ops...)
					bad[i].Revision = prev.Revision
					r := CheckKV(bad, KVConfig{Timeout: 10 * time.Second})
					if r.Valid != Invalid {
						t.Fatalf("seed %d: write revision reused not caught: %s", seed, r)
					}
					break
				}
				prev = &ops[i]
			}
		}
	}
	if caught[KVNonLinearizable] == 0 {
		t.Errorf("unwritten reads never reported as %s: %v", KVNonLinearizable, caught)
	}
}
