package checker

import (
	"fmt"
	"sort"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

// Stream anomalies. The stream workload appends unique non-empty values to
// the partitions of one stream (Key), each append one event from a
// producer (Producer, Seq; a producer issues one append at a time);
// consumers poll partitions from a cursor (From) and sometimes re-seek
// (Seek); after healing, the runner reads every partition in full from
// offset 0 on every node (FinalRead, with Node), after all nodes applied
// the same index. Retention is off, so nothing is ever removed.
//
// The reference log of a partition is the union of its final reads. A
// value's position is where the reference log holds it; an ok append whose
// value is not there is positioned at the offset it returned.
const (
	// StreamLost: an ok append whose value is missing from the final read
	// of its partition on some node. Counted once per value.
	StreamLost = "lost"
	// StreamDuplicate: one value read (polls and final reads) at two
	// different positions. Counted once per value.
	StreamDuplicate = "duplicate"
	// StreamInconsistentOffset: one position (partition, offset) with two
	// different values among reads and ok append results (counted once per
	// position), or an ok append whose value reads show only at positions
	// other than the one it returned (counted once per append).
	StreamInconsistentOffset = "inconsistent-offset"
	// StreamFailedAppendVisible: a value whose every append failed
	// (provably did not happen) appears in a read.
	StreamFailedAppendVisible = "failed-append-visible"
	// StreamUnexpected: a value that no append attempted appears in a read.
	StreamUnexpected = "unexpected"
	// StreamPollSkip: an offset present in the reference log that a
	// sequential consumer jumped over: either an ok poll from From whose
	// highest returned offset is L left out an offset in [From, L], or a
	// poll that continues the process's previous poll of the partition
	// (Seek false) starts after L'+1, where L' was the previous poll's
	// highest offset, and the reference log holds an offset in (L', From).
	// Counted once per poll.
	StreamPollSkip = "poll-skip"
	// StreamProducerNonMonotonic: appends a and b of the same producer to
	// one partition, a ok and completed before b was invoked, b not
	// failed, both positioned, and position(b) < position(a). Counted once
	// per b.
	StreamProducerNonMonotonic = "producer-nonmonotonic"
	// StreamRealtimeOrder: as StreamProducerNonMonotonic, for a and b of
	// different producers (an append without a Producer is its process's).
	// Counted once per b.
	StreamRealtimeOrder = "realtime-order"
	// StreamDivergence: two nodes' final reads of a partition differ (in
	// length, or in the value at an offset). Each node whose read differs
	// from the first node's (by name) is counted once per partition.
	StreamDivergence = "divergence"
)

// StreamConfig is what the stream checker needs besides the history.
type StreamConfig struct {
	// Partitions lists the partitions that must have final reads; a
	// partition without one makes the result Unknown. nil takes the
	// partitions the history appended to.
	Partitions []int
	// Nodes lists the nodes that must have read every partition finally;
	// a missing read makes the result Unknown. nil checks only what is there.
	Nodes []string
}

type pos struct {
	P int    `json:"partition"`
	O uint64 `json:"offset"`
}

// CheckStream checks a stream workload history. See the Stream* constants.
func CheckStream(ops []history.Op, cfg StreamConfig) Result {
	r := newResult()
	appends := map[string][]history.Op{}
	final := map[int]map[string][]history.Message{} // partition -> node -> last ok final read
	var polls []history.Op
	parts := map[int]bool{}
	for _, op := range ops {
		r.Stats[string(op.F)+"/"+string(op.Type)]++
		switch op.F {
		case history.Append:
			appends[op.Value] = append(appends[op.Value], op)
			parts[op.Partition] = true
		case history.Poll:
			if op.Type == history.OK {
				polls = append(polls, op)
			}
		case history.FinalRead:
			if op.Type == history.OK {
				if final[op.Partition] == nil {
					final[op.Partition] = map[string][]history.Message{}
				}
				final[op.Partition][op.Node] = op.Messages
			}
		}
	}
	if cfg.Partitions == nil {
		for p := range parts {
			cfg.Partitions = append(cfg.Partitions, p)
		}
		sort.Ints(cfg.Partitions)
	}
	for _, p := range cfg.Partitions {
		if len(final[p]) == 0 {
			r.unknown(fmt.Sprintf("no final read of partition %d", p))
			continue
		}
		for _, n := range cfg.Nodes {
			if _, ok := final[p][n]; !ok {
				r.unknown(fmt.Sprintf("no final read of partition %d on %s", p, n))
			}
		}
	}

	// Reference logs and every read observation.
	ref := map[int]map[uint64]string{}
	readAt := map[string]map[pos]bool{}   // value -> positions it was read at
	valuesAt := map[pos]map[string]bool{} // position -> values read or returned there
	see := func(p int, m history.Message) {
		at := pos{p, m.Offset}
		if readAt[m.Value] == nil {
			readAt[m.Value] = map[pos]bool{}
		}
		readAt[m.Value][at] = true
		if valuesAt[at] == nil {
			valuesAt[at] = map[string]bool{}
		}
		valuesAt[at][m.Value] = true
	}
	for _, p := range sortedInts(final) {
		ref[p] = map[uint64]string{}
		for _, n := range sortedKeys(final[p]) {
			for _, m := range final[p][n] {
				if _, ok := ref[p][m.Offset]; !ok {
					ref[p][m.Offset] = m.Value
				}
				see(p, m)
			}
		}
	}
	for _, op := range polls {
		for _, m := range op.Messages {
			see(op.Partition, m)
		}
	}
	refPos := map[string]pos{}
	for p, log := range ref {
		for o, v := range log {
			if cur, ok := refPos[v]; !ok || o < cur.O {
				refPos[v] = pos{p, o}
			}
		}
	}

	checkStreamValues(&r, appends, readAt, valuesAt, final)
	checkPolls(&r, polls, ref)
	checkAppendOrder(&r, appends, refPos)
	checkDivergence(&r, final)
	return r
}

func checkStreamValues(r *Result, appends map[string][]history.Op, readAt map[string]map[pos]bool, valuesAt map[pos]map[string]bool, final map[int]map[string][]history.Message) {
	// Ok append results are observations of their position too.
	for _, v := range sortedKeys(appends) {
		for _, a := range appends[v] {
			if a.Type != history.OK {
				continue
			}
			at := pos{a.Partition, a.Offset}
			if valuesAt[at] == nil {
				valuesAt[at] = map[string]bool{}
			}
			valuesAt[at][v] = true
			if len(readAt[v]) > 0 && !readAt[v][at] {
				r.add(StreamInconsistentOffset, map[string]any{"append": a, "read_at": positions(readAt[v])})
			}
		}
	}
	ats := make([]pos, 0, len(valuesAt))
	for at := range valuesAt {
		ats = append(ats, at)
	}
	sortPositions(ats)
	for _, at := range ats {
		if len(valuesAt[at]) > 1 {
			r.add(StreamInconsistentOffset, map[string]any{"partition": at.P, "offset": at.O, "values": sortedKeys(valuesAt[at])})
		}
	}
	for _, v := range sortedKeys(readAt) {
		if len(readAt[v]) > 1 {
			r.add(StreamDuplicate, map[string]any{"value": v, "positions": positions(readAt[v])})
		}
		as := appends[v]
		if len(as) == 0 {
			r.add(StreamUnexpected, map[string]any{"value": v, "positions": positions(readAt[v])})
			continue
		}
		failed := 0
		for _, a := range as {
			if a.Type == history.Fail {
				failed++
			}
		}
		if failed == len(as) {
			r.add(StreamFailedAppendVisible, map[string]any{"value": v, "appends": as, "positions": positions(readAt[v])})
		}
	}
	// Lost: missing from some node's final read of the partition.
	have := map[int]map[string]map[string]bool{} // partition -> node -> values
	for p, nodes := range final {
		have[p] = map[string]map[string]bool{}
		for n, ms := range nodes {
			set := map[string]bool{}
			for _, m := range ms {
				set[m.Value] = true
			}
			have[p][n] = set
		}
	}
	for _, v := range sortedKeys(appends) {
		for _, a := range appends[v] {
			if a.Type != history.OK {
				continue
			}
			var missing []string
			for _, n := range sortedKeys(have[a.Partition]) {
				if !have[a.Partition][n][v] {
					missing = append(missing, n)
				}
			}
			if len(missing) > 0 {
				r.add(StreamLost, map[string]any{"append": a, "missing_on": missing})
			}
			break
		}
	}
}

func checkPolls(r *Result, polls []history.Op, ref map[int]map[uint64]string) {
	offsets := map[int][]uint64{} // sorted offsets of each reference log
	for p, log := range ref {
		for o := range log {
			offsets[p] = append(offsets[p], o)
		}
		sort.Slice(offsets[p], func(i, j int) bool { return offsets[p][i] < offsets[p][j] })
	}
	// inRange returns the reference offsets of p in [lo, hi].
	inRange := func(p int, lo, hi uint64) []uint64 {
		os := offsets[p]
		i := sort.Search(len(os), func(i int) bool { return os[i] >= lo })
		j := sort.Search(len(os), func(i int) bool { return os[i] > hi })
		if i >= j {
			return nil
		}
		return os[i:j]
	}
	type pp struct{ proc, part int }
	last := map[pp]uint64{} // highest offset of the process's previous poll, +1
	sort.SliceStable(polls, func(i, j int) bool { return polls[i].InvokeTime < polls[j].InvokeTime })
	for _, op := range polls {
		id := pp{op.Process, op.Partition}
		next, seen := last[id]
		last[id] = op.From
		var skipped []uint64
		if seen && !op.Seek && op.From > next {
			skipped = append(skipped, inRange(op.Partition, next, op.From-1)...)
		}
		if len(op.Messages) > 0 {
			returned := map[uint64]bool{}
			hi := op.Messages[0].Offset
			for _, m := range op.Messages {
				returned[m.Offset] = true
				hi = max(hi, m.Offset)
			}
			for _, o := range inRange(op.Partition, op.From, hi) {
				if !returned[o] {
					skipped = append(skipped, o)
				}
			}
			last[id] = hi + 1
		}
		if len(skipped) > 0 {
			r.add(StreamPollSkip, map[string]any{"poll": op, "skipped": skipped[:min(len(skipped), 8)]})
		}
	}
}

func checkAppendOrder(r *Result, appends map[string][]history.Op, refPos map[string]pos) {
	type placed struct {
		op       history.Op
		at       pos
		producer string
	}
	byPart := map[int][]placed{}
	for _, v := range sortedKeys(appends) {
		for _, a := range appends[v] {
			if a.Type == history.Fail {
				continue
			}
			at, ok := refPos[v]
			if !ok || at.P != a.Partition {
				if a.Type != history.OK {
					continue
				}
				at = pos{a.Partition, a.Offset}
			}
			prod := a.Producer
			if prod == "" {
				prod = fmt.Sprintf("process:%d", a.Process)
			}
			byPart[a.Partition] = append(byPart[a.Partition], placed{a, at, prod})
		}
	}
	// A sweep in invoke order: before looking at b, every ok append that
	// completed before b was invoked has been folded into the running
	// maxima (per producer, and the two largest from different producers),
	// so each b costs O(1) instead of a pass over the partition.
	for _, p := range sortedInts(byPart) {
		ps := byPart[p]
		sort.Slice(ps, func(i, j int) bool { return ps[i].op.InvokeTime < ps[j].op.InvokeTime })
		var done []*placed
		for i := range ps {
			if ps[i].op.Type == history.OK {
				done = append(done, &ps[i])
			}
		}
		sort.SliceStable(done, func(i, j int) bool { return done[i].op.CompleteTime < done[j].op.CompleteTime })
		perProducer := map[string]*placed{}
		var top, second *placed // highest offsets, from different producers
		next := 0
		for bi := range ps {
			b := &ps[bi]
			for ; next < len(done) && done[next].op.Precedes(b.op); next++ {
				a := done[next]
				if cur := perProducer[a.producer]; cur == nil || a.at.O > cur.at.O {
					perProducer[a.producer] = a
				}
				switch {
				case top == nil || a.at.O > top.at.O:
					if top != nil && top.producer != a.producer {
						second = top
					}
					top = a
				case a.producer != top.producer && (second == nil || a.at.O > second.at.O):
					second = a
				}
			}
			if same := perProducer[b.producer]; same != nil && same.at.O > b.at.O {
				r.add(StreamProducerNonMonotonic, map[string]any{"producer": b.producer, "earlier": same.op, "earlier_offset": same.at.O, "later": b.op, "later_offset": b.at.O})
			}
			other := top
			if other != nil && other.producer == b.producer {
				other = second
			}
			if other != nil && other.at.O > b.at.O {
				r.add(StreamRealtimeOrder, map[string]any{"earlier": other.op, "earlier_offset": other.at.O, "later": b.op, "later_offset": b.at.O})
			}
		}
	}
}

func checkDivergence(r *Result, final map[int]map[string][]history.Message) {
	for _, p := range sortedInts(final) {
		nodes := sortedKeys(final[p])
		if len(nodes) < 2 {
			continue
		}
		base := final[p][nodes[0]]
		for _, n := range nodes[1:] {
			log := final[p][n]
			i := 0
			for i < len(base) && i < len(log) && base[i] == log[i] {
				i++
			}
			if i == len(base) && i == len(log) {
				continue
			}
			ex := map[string]any{"partition": p, "node": n, "reference_node": nodes[0], "index": i, "lengths": []int{len(base), len(log)}}
			if i < len(base) {
				ex["reference"] = base[i]
			}
			if i < len(log) {
				ex["got"] = log[i]
			}
			r.add(StreamDivergence, ex)
		}
	}
}

func positions(set map[pos]bool) []pos {
	out := make([]pos, 0, len(set))
	for at := range set {
		out = append(out, at)
	}
	sortPositions(out)
	return out
}

func sortPositions(ps []pos) {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].P != ps[j].P {
			return ps[i].P < ps[j].P
		}
		return ps[i].O < ps[j].O
	})
}

func sortedInts[V any](m map[int]V) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}
