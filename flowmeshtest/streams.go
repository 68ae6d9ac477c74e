package flowmeshtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

var streamTests = []subtest{
	{"WritePositions", testStreamWritePositions},
	{"ExplicitPartition", testStreamExplicitPartition},
	{"KeyRouting", testStreamKeyRouting},
	{"ReadBack", testStreamReadBack},
	{"ReadRange", testStreamReadRange},
	{"BadWrites", testStreamBadWrites},
	{"AtomicBatch", testStreamAtomicBatch},
	{"Limits", testStreamLimits},
	{"IdempotentRequestID", testStreamIdempotentRequestID},
	{"IdempotentProducer", testStreamIdempotentProducer},
	{"Subscribe", testStreamSubscribe},
	{"SubscribeStopsOnError", testStreamSubscribeStopsOnError},
	{"SubscribeBacklog", testStreamSubscribeBacklog},
	{"SubscribeWhileWriting", testStreamSubscribeWhileWriting},
	{"ConsumerOffsets", testStreamConsumerOffsets},
	{"ReadConsistency", testStreamReadConsistency},
	{"ConcurrentWrites", testStreamConcurrentWrites},
	// Move the clock by hours and days; last so they cannot disturb the others.
	{"StampedTime", testStreamStampedTime},
	{"RetentionMaxAge", testStreamRetentionMaxAge},
}

func write(t *testing.T, tg Target, path string, events []flowmesh.StreamEvent, opts ...flowmesh.CallOption) []flowmesh.Position {
	t.Helper()
	pos, err := tg.Streams.WriteEvents(testCtx(t), path, events, opts...)
	ok(t, "WriteEvents", err)
	if len(pos) != len(events) {
		t.Fatalf("WriteEvents of %d events returned %d positions, want one per event", len(events), len(pos))
	}
	return pos
}

func payloads(n int, prefix string) []flowmesh.StreamEvent {
	ev := make([]flowmesh.StreamEvent, n)
	for i := range ev {
		ev[i].Payload = fmt.Appendf(nil, "%s-%d", prefix, i)
	}
	return ev
}

func partitionInfo(t *testing.T, tg Target, path string, partition int) flowmesh.PartitionInfo {
	t.Helper()
	info, err := tg.Streams.PartitionInfo(testCtx(t), path, partition)
	ok(t, fmt.Sprintf("PartitionInfo(%d)", partition), err)
	if info.Partition != partition {
		t.Errorf("PartitionInfo(%d).Partition = %d", partition, info.Partition)
	}
	return info
}

// nexts returns every partition's Next offset.
func nexts(t *testing.T, tg Target, path string, partitions int) []uint64 {
	t.Helper()
	out := make([]uint64, partitions)
	for p := range partitions {
		out[p] = partitionInfo(t, tg, path, p).Next
	}
	return out
}

func wantNexts(t *testing.T, tg Target, path, when string, want []uint64) {
	t.Helper()
	if got := nexts(t, tg, path, len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: partitions' Next = %v, want %v", when, got, want)
	}
}

func read(t *testing.T, tg Target, path string, partition int, offset uint64, max int, opts ...flowmesh.CallOption) []flowmesh.Message {
	t.Helper()
	msgs, err := tg.Streams.ReadFromOffset(testCtx(t), path, partition, offset, max, opts...)
	ok(t, fmt.Sprintf("ReadFromOffset(partition %d, offset %d, max %d)", partition, offset, max), err)
	return msgs
}

func testStreamWritePositions(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 1).GetPath()
	var want uint64
	for _, n := range []int{1, 3, 5} {
		pos := write(t, tg, s, payloads(n, "e"))
		for i, p := range pos {
			if p.Partition != 0 || p.Offset != want {
				t.Errorf("batch of %d, event %d: position %+v, want {Partition:0 Offset:%d}", n, i, p, want)
			}
			want++
		}
	}
	info := partitionInfo(t, tg, s, 0)
	if info.Earliest != 0 || info.Next != want {
		t.Errorf("PartitionInfo = [%d, %d), want [0, %d)", info.Earliest, info.Next, want)
	}
	if info.Bytes <= 0 {
		t.Errorf("PartitionInfo.Bytes = %d after %d events, want > 0", info.Bytes, want)
	}
}

func testStreamExplicitPartition(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 3).GetPath()
	parts := []int{0, 1, 0, 2, 2, 2, 1}
	ev := make([]flowmesh.StreamEvent, len(parts))
	for i, p := range parts {
		ev[i] = flowmesh.StreamEvent{Payload: fmt.Appendf(nil, "e%d", i), Partition: p}
	}
	pos := write(t, tg, s, ev)
	next := map[int]uint64{}
	for i, p := range pos {
		want := flowmesh.Position{Partition: parts[i], Offset: next[parts[i]]}
		next[parts[i]]++
		if p != want {
			t.Errorf("event %d: position %+v, want %+v", i, p, want)
		}
	}
	wantNexts(t, tg, s, "after the batch", []uint64{2, 2, 3})
	for i, p := range pos {
		msgs := read(t, tg, s, p.Partition, p.Offset, 1)
		if len(msgs) != 1 || !bytes.Equal(msgs[0].Payload, ev[i].Payload) || msgs[0].Partition != p.Partition || msgs[0].Offset != p.Offset {
			t.Errorf("event %d at %+v: read %+v, want payload %q there", i, p, msgs, ev[i].Payload)
		}
	}
}

func testStreamKeyRouting(t *testing.T, tg Target) {
	const partitions = 8
	s := createStream(t, tg, "s", partitions).GetPath()
	keys := make([]string, 24)
	for i := range keys {
		keys[i] = fmt.Sprintf("user-%d", i)
	}
	first := map[string]int{}
	used := map[int]bool{}
	for round := range 3 {
		ev := make([]flowmesh.StreamEvent, len(keys))
		for i, k := range keys {
			ev[i] = flowmesh.StreamEvent{Key: k, Payload: fmt.Appendf(nil, "%s/%d", k, round)}
		}
		pos := write(t, tg, s, ev)
		for i, p := range pos {
			if p.Partition < 0 || p.Partition >= partitions {
				t.Fatalf("key %q: partition %d, want 0..%d", keys[i], p.Partition, partitions-1)
			}
			if round == 0 {
				first[keys[i]] = p.Partition
				used[p.Partition] = true
			} else if p.Partition != first[keys[i]] {
				t.Errorf("round %d: key %q went to partition %d, earlier to %d; want a stable partition", round, keys[i], p.Partition, first[keys[i]])
			}
		}
	}
	if len(used) < 2 {
		t.Errorf("%d keys over %d partitions all went to %v; want them spread by hash", len(keys), partitions, used)
	}
	// Each partition holds its keys' events in write order, keys intact.
	var total uint64
	for p := range partitions {
		info := partitionInfo(t, tg, s, p)
		total += info.Next
		msgs := read(t, tg, s, p, 0, int(info.Next)+1)
		if uint64(len(msgs)) != info.Next {
			t.Errorf("partition %d: read %d messages, want %d", p, len(msgs), info.Next)
		}
		seen := map[string]int{}
		for _, m := range msgs {
			if first[m.Key] != p {
				t.Errorf("partition %d holds key %q, routed to %d", p, m.Key, first[m.Key])
			}
			if want := fmt.Sprintf("%s/%d", m.Key, seen[m.Key]); string(m.Payload) != want {
				t.Errorf("partition %d offset %d: payload %q, want %q", p, m.Offset, m.Payload, want)
			}
			seen[m.Key]++
		}
	}
	if want := uint64(3 * len(keys)); total != want {
		t.Errorf("sum of partitions' Next = %d, want %d", total, want)
	}
}

func testStreamReadBack(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 2).GetPath()
	ev := []flowmesh.StreamEvent{
		{Payload: []byte("plain")},
		{Payload: []byte("with headers"), Headers: map[string]string{"content-type": "text/plain", "trace": "abc", "empty": ""}},
		{Payload: []byte("keyed"), Key: "k1", Headers: map[string]string{"h": "v"}},
		{Payload: []byte{0, 1, 2, 255, 0}},
		{Payload: []byte("p1"), Partition: 1},
	}
	pos := write(t, tg, s, ev)
	var last time.Time
	for i, p := range pos {
		msgs := read(t, tg, s, p.Partition, p.Offset, 1)
		if len(msgs) != 1 {
			t.Fatalf("event %d at %+v: read %d messages, want 1", i, p, len(msgs))
		}
		m := msgs[0]
		if m.Partition != p.Partition || m.Offset != p.Offset {
			t.Errorf("event %d: read at %d/%d, want %+v", i, m.Partition, m.Offset, p)
		}
		if !bytes.Equal(m.Payload, ev[i].Payload) {
			t.Errorf("event %d: payload %q, want %q", i, m.Payload, ev[i].Payload)
		}
		if m.Key != ev[i].Key {
			t.Errorf("event %d: key %q, want %q", i, m.Key, ev[i].Key)
		}
		if len(m.Headers)+len(ev[i].Headers) > 0 && !maps.Equal(m.Headers, ev[i].Headers) {
			t.Errorf("event %d: headers %v, want %v", i, m.Headers, ev[i].Headers)
		}
		if m.Timestamp.IsZero() {
			t.Errorf("event %d: zero Timestamp, want the stamped commit time", i)
		}
		if i > 0 && !m.Timestamp.Equal(last) {
			t.Errorf("event %d: Timestamp %v, event 0 %v; want one stamp for one atomic batch", i, m.Timestamp, last)
		}
		last = m.Timestamp
	}
	// A later batch has a stamp no earlier than this one.
	pos2 := write(t, tg, s, []flowmesh.StreamEvent{{Payload: []byte("later")}})
	if msgs := read(t, tg, s, pos2[0].Partition, pos2[0].Offset, 1); len(msgs) == 1 && msgs[0].Timestamp.Before(last) {
		t.Errorf("later batch stamped %v, before the earlier batch's %v", msgs[0].Timestamp, last)
	}
}

func testStreamReadRange(t *testing.T, tg Target) {
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 2).GetPath()
	write(t, tg, s, payloads(5, "e"))
	tests := []struct {
		offset   uint64
		max      int
		wantFrom uint64
		wantN    int
	}{
		{0, 2, 0, 2},
		{0, 5, 0, 5},
		{0, 100, 0, 5},
		{3, 10, 3, 2},
		{4, 1, 4, 1},
		{5, 10, 5, 0}, // at the end: nothing, no error
	}
	for _, tt := range tests {
		msgs := read(t, tg, s, 0, tt.offset, tt.max)
		if len(msgs) != tt.wantN {
			t.Errorf("ReadFromOffset(0, %d, %d): %d messages, want %d", tt.offset, tt.max, len(msgs), tt.wantN)
			continue
		}
		for i, m := range msgs {
			want := tt.wantFrom + uint64(i)
			if m.Offset != want || string(m.Payload) != fmt.Sprintf("e-%d", want) {
				t.Errorf("ReadFromOffset(0, %d, %d)[%d] = offset %d %q, want offset %d %q", tt.offset, tt.max, i, m.Offset, m.Payload, want, fmt.Sprintf("e-%d", want))
			}
		}
	}
	if msgs := read(t, tg, s, 1, 0, 10); len(msgs) != 0 {
		t.Errorf("empty partition 1: read %d messages, want 0", len(msgs))
	}
	for _, off := range []uint64{6, 1 << 40} {
		_, err := tg.Streams.ReadFromOffset(ctx, s, 0, off, 10)
		wantErr(t, fmt.Sprintf("ReadFromOffset beyond the end (%d)", off), err, flowmesh.ErrOffsetOutOfRange)
		var oe *flowmesh.OffsetOutOfRangeError
		if !errors.As(err, &oe) {
			t.Fatalf("ReadFromOffset(%d): got %T, want *flowmesh.OffsetOutOfRangeError", off, err)
		}
		if oe.Requested != off || oe.Earliest != 0 || oe.Next != 5 {
			t.Errorf("ReadFromOffset(%d): error %+v, want Requested %d Earliest 0 Next 5", off, *oe, off)
		}
	}
	_, err := tg.Streams.ReadFromOffset(ctx, s, 0, 1, flowmesh.MaxReadMessages+1)
	if err != nil {
		wantErr(t, "ReadFromOffset with max > MaxReadMessages", err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	}
	for _, p := range []int{-1, 2, 100} {
		_, err := tg.Streams.ReadFromOffset(ctx, s, p, 0, 10)
		wantErr(t, fmt.Sprintf("ReadFromOffset partition %d of 2", p), err, flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound)
		_, err = tg.Streams.PartitionInfo(ctx, s, p)
		wantErr(t, fmt.Sprintf("PartitionInfo partition %d of 2", p), err, flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound)
	}
	for _, max := range []int{0, -1} {
		msgs, err := tg.Streams.ReadFromOffset(ctx, s, 0, 0, max)
		if err != nil {
			wantErr(t, fmt.Sprintf("ReadFromOffset max %d", max), err, flowmesh.ErrInvalidArgument)
		} else if max < 0 && len(msgs) > 0 {
			t.Errorf("ReadFromOffset max %d returned %d messages", max, len(msgs))
		}
	}
}

func testStreamBadWrites(t *testing.T, tg Target) {
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 2).GetPath()
	write(t, tg, s, payloads(2, "x"))
	tests := []struct {
		name   string
		events []flowmesh.StreamEvent
		errs   []error
	}{
		{"nil batch", nil, []error{flowmesh.ErrInvalidArgument}},
		{"empty batch", []flowmesh.StreamEvent{}, []error{flowmesh.ErrInvalidArgument}},
		{"partition 2 of 2", []flowmesh.StreamEvent{{Payload: []byte("x"), Partition: 2}}, []error{flowmesh.ErrInvalidArgument}},
		{"partition -1", []flowmesh.StreamEvent{{Payload: []byte("x"), Partition: -1}}, []error{flowmesh.ErrInvalidArgument}},
		{"key over MaxKeyLength", []flowmesh.StreamEvent{{Payload: []byte("x"), Key: strings.Repeat("k", flowmesh.MaxKeyLength+1)}},
			[]error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"too many headers", []flowmesh.StreamEvent{{Payload: []byte("x"), Headers: manyHeaders(flowmesh.MaxHeaders + 1)}},
			[]error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
		{"header bytes over MaxHeaderBytes", []flowmesh.StreamEvent{{Payload: []byte("x"), Headers: map[string]string{"big": strings.Repeat("v", flowmesh.MaxHeaderBytes)}}},
			[]error{flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded}},
	}
	for _, tt := range tests {
		pos, err := tg.Streams.WriteEvents(ctx, s, tt.events)
		wantErr(t, "WriteEvents "+tt.name, err, tt.errs...)
		if len(pos) != 0 {
			t.Errorf("WriteEvents %s: got positions %v with the error, want none", tt.name, pos)
		}
	}
	_, err := tg.Streams.WriteEvents(ctx, s, []flowmesh.StreamEvent{{Payload: []byte("x"), Partition: 2}})
	wantInvalid(t, "WriteEvents to partition 2 of 2", err, "")
	_, err = tg.Streams.WriteEvents(ctx, s, nil)
	wantInvalid(t, "WriteEvents of an empty batch", err, "")
	wantNexts(t, tg, s, "after rejected writes", []uint64{2, 0})
}

func manyHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h[fmt.Sprintf("h%d", i)] = "v"
	}
	return h
}

func testStreamAtomicBatch(t *testing.T, tg Target) {
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 3).GetPath()
	write(t, tg, s, []flowmesh.StreamEvent{{Payload: []byte("a"), Partition: 0}, {Payload: []byte("b"), Partition: 1}})
	// A batch with one bad event appends none of its events.
	bad := [][]flowmesh.StreamEvent{
		{{Payload: []byte("ok"), Partition: 0}, {Payload: []byte("ok"), Partition: 1}, {Payload: []byte("bad"), Partition: 7}},
		{{Payload: []byte("ok"), Partition: 2}, {Payload: bytesOf(flowmesh.MaxPayloadSize+1, 'a'), Partition: 0}},
		{{Payload: []byte("ok"), Key: "k"}, {Payload: []byte("ok"), Key: strings.Repeat("k", flowmesh.MaxKeyLength+1)}},
	}
	for i, ev := range bad {
		_, err := tg.Streams.WriteEvents(ctx, s, ev)
		if err == nil {
			t.Errorf("bad batch %d: WriteEvents succeeded, want an error", i)
		}
	}
	wantNexts(t, tg, s, "after rejected batches", []uint64{1, 1, 0})
	// A good batch across partitions lands entirely.
	pos := write(t, tg, s, []flowmesh.StreamEvent{{Payload: []byte("c"), Partition: 2}, {Payload: []byte("d"), Partition: 0}, {Payload: []byte("e"), Partition: 2}})
	want := []flowmesh.Position{{Partition: 2, Offset: 0}, {Partition: 0, Offset: 1}, {Partition: 2, Offset: 1}}
	if fmt.Sprint(pos) != fmt.Sprint(want) {
		t.Errorf("cross-partition batch positions = %v, want %v", pos, want)
	}
	wantNexts(t, tg, s, "after a good batch", []uint64{2, 1, 2})
}

func testStreamLimits(t *testing.T, tg Target) {
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 1).GetPath()
	// Exactly the limits is accepted.
	write(t, tg, s, []flowmesh.StreamEvent{{Payload: bytesOf(flowmesh.MaxPayloadSize, 'a')}})
	write(t, tg, s, payloads(flowmesh.MaxBatchEvents, "max"))
	next := partitionInfo(t, tg, s, 0).Next
	if want := uint64(1 + flowmesh.MaxBatchEvents); next != want {
		t.Fatalf("after writes at the limits Next = %d, want %d", next, want)
	}
	msgs := read(t, tg, s, 0, 0, 1)
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Payload, bytesOf(flowmesh.MaxPayloadSize, 'a')) {
		t.Errorf("payload of MaxPayloadSize did not read back intact")
	}

	half := flowmesh.MaxPayloadSize / 2
	tests := []struct {
		name   string
		events []flowmesh.StreamEvent
	}{
		{"payload over MaxPayloadSize", []flowmesh.StreamEvent{{Payload: bytesOf(flowmesh.MaxPayloadSize+1, 'b')}}},
		{"batch over MaxBatchEvents", payloads(flowmesh.MaxBatchEvents+1, "over")},
		{"batch over MaxBatchBytes", []flowmesh.StreamEvent{
			{Payload: bytesOf(flowmesh.MaxPayloadSize, 'c')},
			{Payload: bytesOf(half, 'd')},
			{Payload: bytesOf(half, 'e')},
		}},
	}
	for _, tt := range tests {
		pos, err := tg.Streams.WriteEvents(ctx, s, tt.events)
		wantLimit(t, "WriteEvents "+tt.name, err)
		if len(pos) != 0 {
			t.Errorf("WriteEvents %s: positions %v with the error, want none", tt.name, pos)
		}
	}
	wantNexts(t, tg, s, "after writes over the limits", []uint64{next})
}

func testStreamIdempotentRequestID(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 2).GetPath()
	ev := []flowmesh.StreamEvent{{Payload: []byte("a")}, {Payload: []byte("b"), Partition: 1}}
	first := write(t, tg, s, ev, flowmesh.WithRequestID("req-1"))
	again := write(t, tg, s, ev, flowmesh.WithRequestID("req-1"))
	if fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("repeat of request req-1: positions %v, want the original %v", again, first)
	}
	wantNexts(t, tg, s, "after a repeated request", []uint64{1, 1})
	other := write(t, tg, s, ev, flowmesh.WithRequestID("req-2"))
	if want := []flowmesh.Position{{Partition: 0, Offset: 1}, {Partition: 1, Offset: 1}}; fmt.Sprint(other) != fmt.Sprint(want) {
		t.Errorf("request req-2: positions %v, want %v", other, want)
	}
	write(t, tg, s, ev) // no ID: always appends
	write(t, tg, s, ev)
	wantNexts(t, tg, s, "after writes without request IDs", []uint64{4, 4})
	if again := write(t, tg, s, ev, flowmesh.WithRequestID("req-1")); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("late repeat of request req-1: positions %v, want the original %v", again, first)
	}
	wantNexts(t, tg, s, "after a late repeat", []uint64{4, 4})
	_, err := tg.Streams.WriteEvents(testCtx(t), s, ev, flowmesh.WithRequestID(strings.Repeat("r", flowmesh.MaxRequestIDLen+1)))
	wantErr(t, "WriteEvents with a request ID over MaxRequestIDLen", err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
}

func testStreamIdempotentProducer(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 1).GetPath()
	p1 := write(t, tg, s, payloads(2, "s1"), flowmesh.WithProducer("prod-a", 1))
	again := write(t, tg, s, payloads(2, "s1"), flowmesh.WithProducer("prod-a", 1))
	if fmt.Sprint(again) != fmt.Sprint(p1) {
		t.Errorf("repeat of (prod-a, 1): positions %v, want the original %v", again, p1)
	}
	p2 := write(t, tg, s, payloads(1, "s2"), flowmesh.WithProducer("prod-a", 2))
	if p2[0].Offset != 2 {
		t.Errorf("(prod-a, 2): offset %d, want 2", p2[0].Offset)
	}
	pb := write(t, tg, s, payloads(1, "b1"), flowmesh.WithProducer("prod-b", 1))
	if pb[0].Offset != 3 {
		t.Errorf("(prod-b, 1): offset %d, want 3: another producer's seq 1 is not a repeat", pb[0].Offset)
	}
	if again := write(t, tg, s, payloads(1, "s2"), flowmesh.WithProducer("prod-a", 2)); fmt.Sprint(again) != fmt.Sprint(p2) {
		t.Errorf("repeat of (prod-a, 2): positions %v, want the original %v", again, p2)
	}
	wantNexts(t, tg, s, "after producer repeats", []uint64{4})
	msgs := read(t, tg, s, 0, 0, 10)
	var got []string
	for _, m := range msgs {
		got = append(got, string(m.Payload))
	}
	if want := "[s1-0 s1-1 s2-0 b1-0]"; fmt.Sprint(got) != want {
		t.Errorf("stream holds %v, want %s (each write exactly once)", got, want)
	}
}

// subscribe runs Subscribe in a goroutine; messages arrive on the returned
// channel, and Subscribe's result on the error channel.
func subscribe(t *testing.T, ctx context.Context, tg Target, path string, partition int, offset uint64) (<-chan flowmesh.Message, <-chan error) {
	t.Helper()
	msgs := make(chan flowmesh.Message, 1000)
	done := make(chan error, 1)
	go func() {
		done <- tg.Streams.Subscribe(ctx, path, partition, offset, func(m flowmesh.Message) error {
			select {
			case msgs <- m:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	return msgs, done
}

// receive waits for the next n messages and checks their offsets run from first.
func receive(t *testing.T, msgs <-chan flowmesh.Message, done <-chan error, n int, first uint64, prefix string) {
	t.Helper()
	timeout := time.After(settleTimeout)
	for i := range n {
		want := first + uint64(i)
		select {
		case m := <-msgs:
			if m.Offset != want {
				t.Fatalf("subscription: message %d at offset %d, want %d", i, m.Offset, want)
			}
			if wantP := fmt.Sprintf("%s-%d", prefix, want); string(m.Payload) != wantP {
				t.Errorf("subscription: offset %d payload %q, want %q", m.Offset, m.Payload, wantP)
			}
			if m.Timestamp.IsZero() {
				t.Errorf("subscription: offset %d has a zero Timestamp", m.Offset)
			}
		case err := <-done:
			t.Fatalf("Subscribe returned %v while waiting for offset %d", err, want)
		case <-timeout:
			t.Fatalf("subscription: offset %d not delivered within %v", want, settleTimeout)
		}
	}
}

func testStreamSubscribe(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 2).GetPath()
	ev := payloads(5, "e")
	write(t, tg, s, ev[:3])
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	msgs, done := subscribe(t, ctx, tg, s, 0, 1)
	receive(t, msgs, done, 2, 1, "e") // existing messages from the offset
	write(t, tg, s, ev[3:4])
	receive(t, msgs, done, 1, 3, "e") // then new ones as they commit
	// Writes to another partition are not delivered.
	write(t, tg, s, []flowmesh.StreamEvent{{Payload: []byte("other"), Partition: 1}})
	write(t, tg, s, ev[4:])
	receive(t, msgs, done, 1, 4, "e")
	select {
	case m := <-msgs:
		t.Errorf("subscription delivered an extra message %+v", m)
	case <-time.After(100 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Subscribe after cancel returned %v, want context.Canceled", err)
		}
	case <-time.After(settleTimeout):
		t.Fatalf("Subscribe did not return within %v of its context ending", settleTimeout)
	}

	// A subscription from the end sees only new messages.
	ctx2, cancel2 := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel2()
	msgs2, done2 := subscribe(t, ctx2, tg, s, 0, 5)
	write(t, tg, s, payloads(8, "e")[5:])
	receive(t, msgs2, done2, 3, 5, "e")
}

// testStreamSubscribeBacklog: a subscription from offset 0 of a backlog
// larger than one read batch (in messages and in bytes) delivers every
// message once, in order.
func testStreamSubscribeBacklog(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 1).GetPath()
	const n, size = 700, 4 << 10 // 2.8 MB in all
	for i := 0; i < n; i += 100 {
		batch := make([]flowmesh.StreamEvent, 100)
		for j := range batch {
			p := make([]byte, size)
			copy(p, fmt.Sprintf("b-%d", i+j))
			batch[j].Payload = p
		}
		write(t, tg, s, batch)
	}
	ctx, cancel := context.WithTimeout(testCtx(t), 60*time.Second)
	defer cancel()
	msgs, done := subscribe(t, ctx, tg, s, 0, 0)
	for i := range n {
		select {
		case m := <-msgs:
			want := fmt.Sprintf("b-%d", i)
			if m.Offset != uint64(i) || len(m.Payload) != size || string(m.Payload[:len(want)]) != want {
				t.Fatalf("message %d: offset %d, %d bytes starting %q", i, m.Offset, len(m.Payload), m.Payload[:min(8, len(m.Payload))])
			}
		case err := <-done:
			t.Fatalf("Subscribe returned %v at message %d", err, i)
		case <-ctx.Done():
			t.Fatalf("message %d not delivered", i)
		}
	}
}

func testStreamSubscribeStopsOnError(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 1).GetPath()
	write(t, tg, s, payloads(5, "e"))
	ctx, cancel := context.WithTimeout(testCtx(t), settleTimeout)
	defer cancel()
	stop := errors.New("flowmeshtest: stop")
	var calls atomic.Int32
	err := tg.Streams.Subscribe(ctx, s, 0, 0, func(m flowmesh.Message) error {
		if calls.Add(1) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Errorf("Subscribe whose callback failed returned %v, want the callback's error", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("callback called %d times after returning an error on call 2, want 2", n)
	}
	// Subscribing to a bad partition fails at once.
	err = tg.Streams.Subscribe(ctx, s, 5, 0, func(flowmesh.Message) error { return nil })
	wantErr(t, "Subscribe to partition 5 of 1", err, flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound)
}

func testStreamConsumerOffsets(t *testing.T, tg Target) {
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 3).GetPath()
	for p := range 3 {
		ev := payloads(10, "e")
		for i := range ev {
			ev[i].Partition = p
		}
		write(t, tg, s, ev)
	}
	_, err := tg.Streams.FetchOffset(ctx, s, "g1", 0)
	wantErr(t, "FetchOffset of an unknown group", err, flowmesh.ErrNotFound)

	commits := []struct {
		group     string
		partition int
		offset    uint64
	}{
		{"g1", 0, 5}, {"g1", 1, 7}, {"g2", 0, 1}, {"g1", 0, 6}, {"g2", 2, 10}, {"g1", 1, 0},
	}
	for _, c := range commits {
		ok(t, fmt.Sprintf("CommitOffset(%s, %d, %d)", c.group, c.partition, c.offset), tg.Streams.CommitOffset(ctx, s, c.group, c.partition, c.offset))
	}
	tests := []struct {
		group     string
		partition int
		want      uint64
		err       error
	}{
		{"g1", 0, 6, nil}, // the last commit wins
		{"g1", 1, 0, nil}, // even when it moves back, as Kafka allows
		{"g1", 2, 0, flowmesh.ErrNotFound},
		{"g2", 0, 1, nil},
		{"g2", 1, 0, flowmesh.ErrNotFound},
		{"g2", 2, 10, nil},
		{"g3", 0, 0, flowmesh.ErrNotFound},
	}
	for _, tt := range tests {
		for _, opts := range [][]flowmesh.CallOption{nil, {flowmesh.WithConsistency(flowmesh.Stale)}} {
			got, err := tg.Streams.FetchOffset(ctx, s, tt.group, tt.partition, opts...)
			op := fmt.Sprintf("FetchOffset(%s, %d) with %d options", tt.group, tt.partition, len(opts))
			if tt.err != nil {
				wantErr(t, op, err, tt.err)
				continue
			}
			ok(t, op, err)
			if got != tt.want {
				t.Errorf("%s = %d, want %d", op, got, tt.want)
			}
		}
	}
	// Groups are per stream.
	s2 := createStream(t, tg, "s2", 3).GetPath()
	_, err = tg.Streams.FetchOffset(ctx, s2, "g1", 0)
	wantErr(t, "FetchOffset of g1 on another stream", err, flowmesh.ErrNotFound)

	badGroups := []string{"", strings.Repeat("g", flowmesh.MaxGroupNameLen+1)}
	for _, g := range badGroups {
		err := tg.Streams.CommitOffset(ctx, s, g, 0, 1)
		wantErr(t, fmt.Sprintf("CommitOffset group of %d chars", len(g)), err, flowmesh.ErrInvalidArgument, flowmesh.ErrLimitExceeded)
	}
	err = tg.Streams.CommitOffset(ctx, s, "g1", 3, 0)
	wantErr(t, "CommitOffset to partition 3 of 3", err, flowmesh.ErrInvalidArgument, flowmesh.ErrNotFound)
}

func testStreamReadConsistency(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 1).GetPath()
	for i, opt := range []flowmesh.CallOption{
		flowmesh.WithConsistency(flowmesh.Linearizable),
		flowmesh.WithConsistency(flowmesh.Leader),
		flowmesh.WithConsistency(flowmesh.Stale),
		flowmesh.WithMaxStaleness(5 * time.Second),
	} {
		pos := write(t, tg, s, payloads(1, fmt.Sprintf("c%d", i)))
		// A single node has applied an acknowledged write at every level.
		msgs := read(t, tg, s, 0, pos[0].Offset, 10, opt)
		if len(msgs) != 1 || string(msgs[0].Payload) != fmt.Sprintf("c%d-0", i) {
			t.Errorf("read with consistency option %d after its write: %d messages, want the written one", i, len(msgs))
		}
		info, err := tg.Streams.PartitionInfo(testCtx(t), s, 0, opt)
		ok(t, "PartitionInfo", err)
		if info.Next != pos[0].Offset+1 {
			t.Errorf("PartitionInfo with consistency option %d: Next %d, want %d", i, info.Next, pos[0].Offset+1)
		}
	}
}

func testStreamRetentionMaxAge(t *testing.T, tg Target) {
	needClock(t, tg)
	ctx := testCtx(t)
	s := createStream(t, tg, "s", 1, flowmesh.WithRetention(time.Hour, 0)).GetPath()
	keep := createStream(t, tg, "keep", 1).GetPath()
	write(t, tg, s, payloads(3, "old"))
	write(t, tg, keep, payloads(3, "old"))
	// Past the stream's MaxAge and past any sane segment age, so the
	// segment holding the old events rolls on the next append and can go.
	advance(t, tg, 72*time.Hour)
	fresh := write(t, tg, s, []flowmesh.StreamEvent{{Payload: []byte("fresh")}})
	write(t, tg, keep, []flowmesh.StreamEvent{{Payload: []byte("fresh")}})

	var info flowmesh.PartitionInfo
	eventually(t, settleTimeout, "retention moves Earliest past the expired events", func() error {
		info = partitionInfo(t, tg, s, 0)
		if info.Earliest == 0 {
			return fmt.Errorf("PartitionInfo = [%d, %d)", info.Earliest, info.Next)
		}
		return nil
	})
	if info.Earliest > fresh[0].Offset || info.Next != fresh[0].Offset+1 {
		t.Errorf("after retention PartitionInfo = [%d, %d), want the fresh event at %d retained", info.Earliest, info.Next, fresh[0].Offset)
	}
	_, err := tg.Streams.ReadFromOffset(ctx, s, 0, 0, 10)
	wantErr(t, "ReadFromOffset below the retained range", err, flowmesh.ErrOffsetOutOfRange)
	var oe *flowmesh.OffsetOutOfRangeError
	if errors.As(err, &oe) && (oe.Earliest != info.Earliest || oe.Requested != 0) {
		t.Errorf("OffsetOutOfRangeError = %+v, want Requested 0, Earliest %d", *oe, info.Earliest)
	}
	subCtx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	err = tg.Streams.Subscribe(subCtx, s, 0, 0, func(m flowmesh.Message) error {
		return fmt.Errorf("subscription below the retained range delivered offset %d", m.Offset)
	})
	wantErr(t, "Subscribe below the retained range", err, flowmesh.ErrOffsetOutOfRange)
	msgs := read(t, tg, s, 0, info.Earliest, 10)
	if len(msgs) == 0 || string(msgs[len(msgs)-1].Payload) != "fresh" {
		t.Errorf("reading from Earliest %d: %d messages, want to end with the fresh event", info.Earliest, len(msgs))
	}
	// A stream without retention keeps everything.
	if ki := partitionInfo(t, tg, keep, 0); ki.Earliest != 0 || ki.Next != 4 {
		t.Errorf("stream without retention: PartitionInfo = [%d, %d), want [0, 4)", ki.Earliest, ki.Next)
	}
}
