package checker

import (
	"fmt"
	"testing"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// simStream runs producers appending to two partitions of a correct log and
// consumers polling with cursors (sometimes re-seeking), then final reads
// of every partition on three nodes.
func simStream(seed uint64, producers, consumers, n int) []history.Op {
	s := newSim(seed, 0.15)
	logs := [2][]string{}
	active := producers + consumers
	finish := func() {
		if active--; active > 0 {
			return
		}
		for p := range logs {
			for _, node := range []string{"n1", "n2", "n3"} {
				s.call(history.Op{Process: 100, F: history.FinalRead, Key: "s", Partition: p, Node: node}, false, func(o *history.Op) history.Type {
					for off, v := range logs[p] {
						o.Messages = append(o.Messages, history.Message{Offset: uint64(off), Value: v})
					}
					return history.OK
				}, func(history.Op) {})
			}
		}
	}
	for p := range producers {
		left := n
		var seq uint64
		var next func()
		next = func() {
			if left == 0 {
				finish()
				return
			}
			left--
			seq++
			part := s.rng.IntN(2)
			op := history.Op{Process: p, F: history.Append, Key: "s", Partition: part, Value: fmt.Sprintf("%d-%d", p, left), Producer: fmt.Sprintf("prod-%d", p), Seq: seq}
			s.call(op, true, func(o *history.Op) history.Type {
				o.Offset = uint64(len(logs[part]))
				logs[part] = append(logs[part], o.Value)
				return history.OK
			}, func(history.Op) { s.at(s.now+s.ms(0, 3), next) })
		}
		s.at(s.ms(0, 3), next)
	}
	for c := range consumers {
		proc := producers + c
		left := n
		cursor := [2]uint64{}
		var next func()
		next = func() {
			if left == 0 {
				finish()
				return
			}
			left--
			part := s.rng.IntN(2)
			op := history.Op{Process: proc, F: history.Poll, Key: "s", Partition: part, From: cursor[part]}
			if s.rng.IntN(8) == 0 {
				op.Seek = true
				op.From = uint64(s.rng.IntN(len(logs[part]) + 1))
			}
			s.call(op, false, func(o *history.Op) history.Type {
				for off := o.From; off < uint64(len(logs[part])) && len(o.Messages) < 3; off++ {
					o.Messages = append(o.Messages, history.Message{Offset: off, Value: logs[part][off]})
				}
				return history.OK
			}, func(o history.Op) {
				cursor[part] = o.From + uint64(len(o.Messages))
				s.at(s.now+s.ms(0, 3), next)
			})
		}
		s.at(s.ms(0, 3), next)
	}
	return s.run()
}

func TestStreamSimulatedHistoriesValid(t *testing.T) {
	for seed := range uint64(30) {
		ops := simStream(seed, 4, 3, 40)
		r := CheckStream(ops, StreamConfig{Partitions: []int{0, 1}})
		if r.Valid != Valid {
			t.Fatalf("seed %d: correct log judged %s: %v %v", seed, r.Valid, r.Anomalies, r.Examples)
		}
		if r.Stats["append/info"] == 0 || r.Stats["poll/ok"] == 0 || r.Stats["final-read/ok"] != 6 {
			t.Fatalf("seed %d: simulation too tame: %v", seed, r.Stats)
		}
	}
}

func TestStreamSimulatedCorruptionsCaught(t *testing.T) {
	for seed := range uint64(30) {
		ops := simStream(seed, 4, 3, 40)
		// One node's final read loses its last event.
		bad := append([]history.Op(nil), ops...)
		for i := range bad {
			if bad[i].F == history.FinalRead && bad[i].Node == "n2" && len(bad[i].Messages) > 0 {
				bad[i].Messages = bad[i].Messages[:len(bad[i].Messages)-1]
				break
			}
		}
		if r := CheckStream(bad, StreamConfig{}); r.Anomalies[StreamDivergence] == 0 {
			t.Fatalf("seed %d: truncated node log not caught: %s", seed, r)
		}
		// Two events of a partition swap places on every node.
		bad = append([]history.Op(nil), ops...)
		for i := range bad {
			if bad[i].F == history.FinalRead && len(bad[i].Messages) > 4 {
				ms := append([]history.Message(nil), bad[i].Messages...)
				ms[1].Value, ms[len(ms)-1].Value = ms[len(ms)-1].Value, ms[1].Value
				bad[i].Messages = ms
			}
		}
		if r := CheckStream(bad, StreamConfig{}); r.Valid != Invalid {
			t.Fatalf("seed %d: reordered log not caught: %s", seed, r)
		}
	}
}
