package flowmeshtest

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// The hand-off from history to live delivery is where subscriptions lose or
// repeat messages: these subtests write while a subscriber catches up.

func testStreamSubscribeWhileWriting(t *testing.T, tg Target) {
	s := createStream(t, tg, "s", 1).GetPath()
	const history, live, batch = 2500, 500, 10
	for from := 0; from < history; from += flowmesh.MaxBatchEvents {
		n := min(flowmesh.MaxBatchEvents, history-from)
		ev := make([]flowmesh.StreamEvent, n)
		for i := range ev {
			ev[i].Payload = fmt.Appendf(nil, "e-%d", from+i)
		}
		write(t, tg, s, ev)
	}
	ctx := testCtx(t)
	msgs, done := subscribe(t, ctx, tg, s, 0, 0)
	writeErr := make(chan error, 1)
	go func() {
		for from := history; from < history+live; from += batch {
			ev := make([]flowmesh.StreamEvent, batch)
			for i := range ev {
				ev[i].Payload = fmt.Appendf(nil, "e-%d", from+i)
			}
			if _, err := tg.Streams.WriteEvents(ctx, s, ev); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()
	receive(t, msgs, done, history+live, 0, "e")
	ok(t, "concurrent WriteEvents", <-writeErr)
}

func testKVWatchWhileWriting(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	const history, live = 300, 200
	revs := make([]uint64, 0, history+live)
	for i := range history {
		revs = append(revs, put(t, tg, kv, fmt.Sprintf("k%d", i%7), fmt.Sprint(i), flowmesh.KVPutOptions{}))
	}
	ctx := testCtx(t)
	events, done := watch(ctx, tg, kv, "", revs[0])
	liveRevs := make(chan []uint64, 1)
	go func() {
		var rs []uint64
		for i := history; i < history+live; i++ {
			r, err := tg.KV.Put(ctx, kv, fmt.Sprintf("k%d", i%7), fmt.Append(nil, i), flowmesh.KVPutOptions{})
			if err != nil {
				t.Errorf("concurrent Put %d: %v", i, err)
				break
			}
			rs = append(rs, r)
		}
		liveRevs <- rs
	}()
	var got []flowmesh.KVEvent
	timeout := time.After(settleTimeout)
	for len(got) < history+live {
		select {
		case e := <-events:
			got = append(got, e)
		case err := <-done:
			t.Fatalf("Watch returned %v after %d events", err, len(got))
		case <-timeout:
			t.Fatalf("watch delivered %d of %d events within %v", len(got), history+live, settleTimeout)
		}
	}
	revs = append(revs, <-liveRevs...)
	if len(revs) != history+live {
		t.FailNow()
	}
	for i, e := range got {
		if e.Type != flowmesh.KVEventPut || e.Revision != revs[i] || string(e.Value) != fmt.Sprint(i) || e.Key != fmt.Sprintf("k%d", i%7) {
			t.Fatalf("watch event %d = %v %q=%q at %d, want put %q=%q at %d (no gap or repeat across the catch-up)", i, e.Type, e.Key, e.Value, e.Revision, fmt.Sprintf("k%d", i%7), fmt.Sprint(i), revs[i])
		}
	}
}

// testStreamStampedTime checks that event timestamps come from the node's
// stamping clock.
func testStreamStampedTime(t *testing.T, tg Target) {
	needClock(t, tg)
	s := createStream(t, tg, "s", 1).GetPath()
	write(t, tg, s, payloads(1, "before"))
	advance(t, tg, 10*time.Hour)
	write(t, tg, s, payloads(1, "after"))
	msgs := read(t, tg, s, 0, 0, 2)
	if len(msgs) != 2 {
		t.Fatalf("read %d messages, want 2", len(msgs))
	}
	if d := msgs[1].Timestamp.Sub(msgs[0].Timestamp); d < 10*time.Hour {
		t.Errorf("events written 10h apart on the node's clock are stamped %v apart", d)
	}
}
