package checker

import (
	"testing"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

func app(producer string, seq uint64, t history.Type, v string, part int, off uint64) history.Op {
	return history.Op{Process: int(producer[len(producer)-1] - '0'), Type: t, F: history.Append, Key: "s", Partition: part, Value: v, Producer: producer, Seq: seq, Offset: off}
}

// msgs builds messages at consecutive offsets from first.
func msgs(first uint64, vals ...string) []history.Message {
	out := make([]history.Message, len(vals))
	for i, v := range vals {
		out[i] = history.Message{Offset: first + uint64(i), Value: v}
	}
	return out
}

func poll(proc, part int, from uint64, seek bool, ms []history.Message) history.Op {
	return history.Op{Process: proc, Type: history.OK, F: history.Poll, Key: "s", Partition: part, From: from, Seek: seek, Messages: ms}
}

func finalRead(node string, part int, ms []history.Message) history.Op {
	return history.Op{Process: 99, Type: history.OK, F: history.FinalRead, Key: "s", Partition: part, Node: node, Messages: ms}
}

// finals reads part on three nodes with the same messages.
func finals(part int, ms []history.Message, inv int) []history.Op {
	var out []history.Op
	for _, n := range []string{"n1", "n2", "n3"} {
		out = append(out, at(finalRead(n, part, ms), inv, inv+1))
	}
	return out
}

func TestStreamValid(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
	}{
		{"sequential, two partitions, sequential and seeking consumers", h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 1), 2, 3),
			at(app("p2", 1, ok, "x", 1, 0), 2, 3),
			at(poll(5, 0, 0, false, msgs(0, "a")), 4, 5),
			at(poll(5, 0, 1, false, msgs(1, "b")), 6, 7),
			at(poll(5, 0, 2, false, nil), 8, 9),
			at(poll(5, 0, 0, true, msgs(0, "a", "b")), 10, 11),
			at(poll(6, 1, 0, false, msgs(0, "x")), 10, 11),
		}, append(finals(0, msgs(0, "a", "b"), 20), finals(1, msgs(0, "x"), 20)...)...)...)},
		{"concurrent appends in either order; info appends visible or not", h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 1), 0, 10),
			at(app("p2", 1, ok, "b", 0, 0), 0, 10),
			at(app("p3", 1, info, "c", 0, 0), 0, 10),
			at(app("p4", 1, info, "d", 0, 0), 0, 10),
			at(app("p1", 2, ok, "e", 0, 3), 11, 12),
			at(app("p2", 2, fail, "f", 0, 0), 11, 12),
		}, finals(0, msgs(0, "b", "a", "c", "e"), 20)...)...)},
		{"info append applied after later appends", h(append([]history.Op{
			at(app("p1", 1, info, "a", 0, 0), 0, 5),
			at(app("p2", 1, ok, "b", 0, 0), 6, 7),
			at(app("p1", 2, ok, "c", 0, 2), 8, 9),
		}, finals(0, msgs(0, "b", "a", "c"), 20)...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAnomalies(t, CheckStream(tt.ops, StreamConfig{}))
		})
	}
}

func TestStreamAnomalies(t *testing.T) {
	tests := []struct {
		anomaly string
		ops     []history.Op
	}{
		{StreamLost, h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 1), 2, 3),
		}, finals(0, msgs(0, "a"), 20)...)...)},
		{StreamDuplicate, h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 1), 2, 3),
		}, finals(0, msgs(0, "a", "b", "a"), 20)...)...)},
		{StreamInconsistentOffset, h(append([]history.Op{
			// A poll saw c at offset 1, where every node now has b.
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 1), 2, 3),
			at(app("p2", 1, info, "c", 0, 0), 2, 3),
			at(poll(5, 0, 0, false, msgs(0, "a", "c")), 4, 5),
		}, finals(0, msgs(0, "a", "b"), 20)...)...)},
		{StreamInconsistentOffset, h(append([]history.Op{
			// The append answered offset 5; its value is at 1.
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 5), 2, 3),
		}, finals(0, msgs(0, "a", "b"), 20)...)...)},
		{StreamFailedAppendVisible, h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, fail, "b", 0, 0), 2, 3),
		}, finals(0, msgs(0, "a", "b"), 20)...)...)},
		{StreamUnexpected, h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
		}, finals(0, msgs(0, "a", "zz"), 20)...)...)},
		{StreamPollSkip, h(append([]history.Op{
			// One poll leaves out offset 1.
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 1), 2, 3),
			at(app("p1", 3, ok, "c", 0, 2), 4, 5),
			at(poll(5, 0, 0, false, []history.Message{{Offset: 0, Value: "a"}, {Offset: 2, Value: "c"}}), 6, 7),
		}, finals(0, msgs(0, "a", "b", "c"), 20)...)...)},
		{StreamPollSkip, h(append([]history.Op{
			// A sequential consumer's next poll starts past offset 1.
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p1", 2, ok, "b", 0, 1), 2, 3),
			at(app("p1", 3, ok, "c", 0, 2), 4, 5),
			at(poll(5, 0, 0, false, msgs(0, "a")), 6, 7),
			at(poll(5, 0, 2, false, msgs(2, "c")), 8, 9),
		}, finals(0, msgs(0, "a", "b", "c"), 20)...)...)},
		{StreamProducerNonMonotonic, h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 1), 0, 1),
			at(app("p1", 2, ok, "b", 0, 0), 2, 3),
		}, finals(0, msgs(0, "b", "a"), 20)...)...)},
		{StreamRealtimeOrder, h(append([]history.Op{
			at(app("p1", 1, ok, "a", 0, 1), 0, 1),
			at(app("p2", 1, ok, "b", 0, 0), 2, 3),
		}, finals(0, msgs(0, "b", "a"), 20)...)...)},
		{StreamRealtimeOrder, h(append([]history.Op{
			// An info append invoked after a completed cannot land before it.
			at(app("p1", 1, ok, "a", 0, 1), 0, 1),
			at(app("p2", 1, info, "b", 0, 0), 2, 3),
			at(app("p3", 1, ok, "c", 0, 2), 2, 3),
		}, finals(0, msgs(0, "b", "a", "c"), 20)...)...)},
		{StreamDivergence, h(
			at(app("p1", 1, ok, "a", 0, 0), 0, 1),
			at(app("p2", 1, info, "b", 0, 0), 2, 3),
			at(finalRead("n1", 0, msgs(0, "a", "b")), 20, 21),
			at(finalRead("n2", 0, msgs(0, "a", "b")), 20, 21),
			at(finalRead("n3", 0, msgs(0, "a")), 20, 21),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.anomaly, func(t *testing.T) {
			wantAnomalies(t, CheckStream(tt.ops, StreamConfig{}), tt.anomaly)
		})
	}
}

func TestStreamNoFinalReadIsUnknown(t *testing.T) {
	r := CheckStream(h(at(app("p1", 1, ok, "a", 0, 0), 0, 1)), StreamConfig{Partitions: []int{0, 1}})
	if r.Valid != Unknown || len(r.Notes) != 2 {
		t.Fatalf("got %s %v, want unknown with a note per partition", r.Valid, r.Notes)
	}
}

func TestStreamMissingNodeReadIsUnknown(t *testing.T) {
	ops := h(
		at(app("p1", 1, ok, "a", 0, 0), 0, 1),
		at(finalRead("n1", 0, msgs(0, "a")), 2, 3),
	)
	r := CheckStream(ops, StreamConfig{Nodes: []string{"n1", "n2"}})
	if r.Valid != Unknown || len(r.Notes) != 1 {
		t.Fatalf("got %s %v, want unknown naming n2", r.Valid, r.Notes)
	}
}
