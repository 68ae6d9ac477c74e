package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func txnCmd(id string, t flowmesh.Txn) *fsmpb.Command {
	return &fsmpb.Command{RequestId: id, Op: &fsmpb.Command_Txn{Txn: TxnToPB(t)}}
}

// recorder applies entries to a harness and keeps them, to replay them.
type recorder struct {
	h       *harness
	entries [][]*fsmpb.Command
}

func (r *recorder) apply(cmds ...*fsmpb.Command) []any {
	r.entries = append(r.entries, cmds)
	return r.h.apply(cmds...)
}

func (r *recorder) mustApply(cmds ...*fsmpb.Command) []*Result {
	r.entries = append(r.entries, cmds)
	return r.h.mustApply(cmds...)
}

// txnWorkload applies n rounds of transactions (succeeding, failing, else
// branches, a job step on a reserved job) to resources it creates. It
// returns the first result of the request-ID'd transaction and the entries.
func txnWorkload(hh *harness, n int) (*Result, [][]*fsmpb.Command) {
	hh.t.Helper()
	h := &recorder{h: hh}
	h.mustApply(createCmd(flowmesh.KindStream, "s"), createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindKV, "kv"))
	var first *Result
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("acct%d", i%5)
		p := []byte(fmt.Sprintf("txn-%d", i))
		ok := flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{flowmesh.CompareNext("t/ns/s", 0, flowmesh.CompareGreater, 1<<40)}, // false: else
			Then:     []flowmesh.TxnOp{flowmesh.OpDelete("t/ns/kv", "never")},
			Else: []flowmesh.TxnOp{
				flowmesh.OpPut("t/ns/kv", key, p, 0),
				flowmesh.OpAppend("t/ns/s", flowmesh.StreamEvent{Key: key, Payload: p, Headers: map[string]string{"i": fmt.Sprint(i)}}),
				flowmesh.OpEnqueue("t/ns/q", p, flowmesh.QueueEnqueueOptions{DedupID: fmt.Sprintf("d%d", i%4)}),
				flowmesh.OpRange("t/ns/kv", "acct", "", 0),
			},
		}
		res := h.apply(txnCmd(fmt.Sprintf("req-%d", i%3), ok))
		if r, isRes := res[0].(*Result); isRes && i == 0 {
			first = r
		} else if !isRes {
			hh.t.Fatalf("round %d: %v", i, res[0])
		}
		// A failing transaction: its put and append must leave no trace.
		bad := flowmesh.Txn{Then: []flowmesh.TxnOp{
			flowmesh.OpPut("t/ns/kv", "bad", p, 0),
			flowmesh.OpAppend("t/ns/s", flowmesh.StreamEvent{Payload: p}),
			flowmesh.OpAck("t/ns/q", flowmesh.Receipt{JobID: "none", Attempt: 1}),
		}}
		if _, isErr := h.apply(txnCmd("", bad))[0].(error); !isErr {
			hh.t.Fatalf("round %d: a transaction acking an unknown job succeeded", i)
		}
		// A job step: reserve, then ack + put + enqueue in one transaction.
		rr := h.mustApply(&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q"}}})
		if j := rr[0].Job; j != nil {
			h.mustApply(txnCmd("", flowmesh.Txn{
				Compares: []flowmesh.TxnCompare{flowmesh.CompareHeld("t/ns/q", j.Receipt, true)},
				Then: []flowmesh.TxnOp{flowmesh.OpAck("t/ns/q", j.Receipt), flowmesh.OpPut("t/ns/kv", "done/"+j.ID, nil, 0),
					flowmesh.OpEnqueue("t/ns/q", j.Payload, flowmesh.QueueEnqueueOptions{Delay: 1000})},
			}))
		}
	}
	return first, h.entries
}

func TestTxnReplicasAgree(t *testing.T) {
	a := openHarness(t, filepath.Join(t.TempDir(), "a"))
	b := openHarness(t, filepath.Join(t.TempDir(), "b"))
	ra, _ := txnWorkload(a, 40)
	rb, _ := txnWorkload(b, 40)
	if ha, hb := stateHash(t, a.f), stateHash(t, b.f); ha != hb {
		t.Fatalf("replicas applying the same transactions differ: %s vs %s", ha, hb)
	}
	if fmt.Sprintf("%+v", ra.Txn) != fmt.Sprintf("%+v", rb.Txn) {
		t.Fatalf("results differ:\n%+v\n%+v", ra.Txn, rb.Txn)
	}
	checkUsage(t, a.f, "after the transactions")
}

func TestTxnSnapshotRestoreAndReplay(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "src")
	src := openHarness(t, dir)
	first, entries := txnWorkload(src, 20)
	if err := src.f.Flush(); err != nil {
		t.Fatal(err)
	}
	mid, midIndex, midStamp := stateHash(t, src.f), src.index, src.stamp
	// More transactions after the checkpoint, then a crash: replay must
	// skip what the checkpoint holds and apply the rest once.
	more := flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut("t/ns/kv", "late", []byte("x"), 0),
		flowmesh.OpAppend("t/ns/s", flowmesh.StreamEvent{Payload: []byte("late")}), flowmesh.OpEnqueue("t/ns/q", []byte("late"), flowmesh.QueueEnqueueOptions{})}}
	src.mustApply(txnCmd("late", more))
	want := stateHash(t, src.f)
	crash(src.f)

	re := openHarness(t, dir)
	if got := stateHash(t, re.f); got != mid {
		t.Fatalf("after reopen: %s, want the checkpoint's %s", got, mid)
	}
	re.index, re.stamp = 0, 1_000_000_000
	for _, e := range entries { // replayed from the start: all below the checkpoint, skipped
		for _, r := range re.apply(e...) {
			if r != nil {
				t.Fatalf("entry %d below the checkpoint applied again: %v", re.index, r)
			}
		}
	}
	if re.index != midIndex || re.stamp != midStamp {
		t.Fatalf("replay reached index %d stamp %d, want %d %d", re.index, re.stamp, midIndex, midStamp)
	}
	re.mustApply(txnCmd("late", more))
	if got := stateHash(t, re.f); got != want {
		t.Fatalf("after replay: %s, want %s", got, want)
	}

	snap, err := re.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &bufferSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	dst := openHarness(t, filepath.Join(t.TempDir(), "dst"))
	if err := dst.f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if got := stateHash(t, dst.f); got != want {
		t.Fatalf("restored: %s, want %s", got, want)
	}
	checkUsage(t, dst.f, "after restore")
	// The dedup window travels in the snapshot: a retry of the first
	// request ID returns its first result and changes nothing.
	dst.index, dst.stamp = re.index, re.stamp
	again := dst.mustApply(txnCmd("req-0", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut("t/ns/kv", "other", nil, 0)}}))
	if fmt.Sprintf("%+v", again[0].Txn) != fmt.Sprintf("%+v", first.Txn) {
		t.Fatalf("retry after restore:\n%+v\nwant the first result\n%+v", again[0].Txn, first.Txn)
	}
	if got := stateHash(t, dst.f); got != want {
		t.Fatal("a deduplicated retry changed the state")
	}
}

func TestTxnFailureLeavesStateHash(t *testing.T) {
	h := openHarness(t, t.TempDir())
	populate(h, 5)
	h.mustApply(quotaCmd("t", false, &fsmpb.QuotaLimits{KvKeys: proto.Int64(9)}))
	before := stateHash(t, h.f)
	usageBefore := fmt.Sprint(kept(h.f))
	// populate left 5 keys: each put alone fits the quota of 9, five new
	// ones together do not.
	var puts []flowmesh.TxnOp
	for i := 0; i < 5; i++ {
		puts = append(puts, flowmesh.OpPut("t/ns/kv", fmt.Sprintf("new%d", i), []byte("v"), 0))
	}
	cases := []struct {
		name string
		txn  flowmesh.Txn
		want error
	}{
		{"quota over the whole branch", flowmesh.Txn{Then: puts}, flowmesh.ErrLimitExceeded},
		{"missing key after changes", flowmesh.Txn{Then: append(puts[:2:2], flowmesh.OpDelete("t/ns/kv", "nope"))}, flowmesh.ErrNotFound},
		{"queue payload over the queue's limit", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut("t/ns/kv", "x", nil, 0),
			flowmesh.OpEnqueue("t/ns/q", make([]byte, 2048), flowmesh.QueueEnqueueOptions{})}}, flowmesh.ErrLimitExceeded},
		{"compare on a missing store", flowmesh.Txn{Compares: []flowmesh.TxnCompare{flowmesh.CompareExists("t/ns/none", "k", true)},
			Then: puts[:1]}, flowmesh.ErrNotFound},
	}
	for _, c := range cases {
		res := h.apply(txnCmd("", c.txn))
		err, _ := res[0].(error)
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: got %v, want %v", c.name, res[0], c.want)
		}
		if got := stateHash(t, h.f); got != before {
			t.Fatalf("%s: state hash changed", c.name)
		}
		if got := fmt.Sprint(kept(h.f)); got != usageBefore {
			t.Fatalf("%s: usage changed: %s, was %s", c.name, got, usageBefore)
		}
	}
	// Four new keys fit.
	h.mustApply(txnCmd("", flowmesh.Txn{Then: puts[:4]}))
	checkUsage(t, h.f, "after a transaction at the quota")
}

// FuzzTxn applies arbitrary transactions to a small state: nothing may panic
// or be fatal, and a transaction that fails must leave the state hash as it
// was (all or nothing).
func FuzzTxn(f *testing.F) {
	seed := func(t flowmesh.Txn) {
		b, _ := proto.Marshal(TxnToPB(t))
		f.Add(b)
	}
	seed(flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareRevision("t/ns/kv", "k0", flowmesh.CompareGreater, 1), flowmesh.CompareNext("t/ns/s", 1, flowmesh.CompareLess, 9)},
		Then: []flowmesh.TxnOp{flowmesh.OpPut("t/ns/kv", "k1", []byte("v"), 5), flowmesh.OpDelete("t/ns/kv", "k2"),
			flowmesh.OpAppend("t/ns/s", flowmesh.StreamEvent{Key: "x", Payload: []byte("p")}), flowmesh.OpRange("t/ns/kv", "k", "", 2)},
		Else: []flowmesh.TxnOp{flowmesh.OpEnqueue("t/ns/q", []byte("j"), flowmesh.QueueEnqueueOptions{DedupID: "d"}), flowmesh.OpGet("t/ns/kv", "k0")},
	})
	seed(flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareHeld("t/ns/q", flowmesh.Receipt{JobID: "2.1", Attempt: 1}, true)},
		Then: []flowmesh.TxnOp{flowmesh.OpAck("t/ns/q", flowmesh.Receipt{JobID: "2.1", Attempt: 1}), flowmesh.OpNack("t/ns/q", flowmesh.Receipt{JobID: "2.1", Attempt: 1}, 0),
			flowmesh.OpDelete("t/ns/kv", "k9")},
	})
	// One state for every input (opening one per input is slow): each
	// input's transaction applies on top of the ones before.
	var h *harness
	dir := f.TempDir()
	f.Cleanup(func() {
		if h != nil {
			h.f.Close()
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &fsmpb.Txn{}
		if proto.Unmarshal(data, c) != nil {
			return
		}
		if h == nil {
			h = &harness{stamp: 1_000_000_000}
			cfg := DefaultConfig(dir)
			cfg.Logger = slog.New(slog.DiscardHandler)
			cfg.OnFatal = func(err error) { h.fatal = append(h.fatal, err) }
			fsm, err := Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			h.f, h.t = fsm, t
			h.mustApply(createCmd(flowmesh.KindStream, "s"), createCmd(flowmesh.KindQueue, "q"), createCmd(flowmesh.KindKV, "kv"))
		}
		h.t = t
		// Something to compare, delete, ack and nack in every round.
		h.mustApply(
			&fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: &fsmpb.Enqueue{Path: "t/ns/q", Payload: []byte("a")}}},
			&fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: "t/ns/q"}}},
			&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "k0", Value: []byte("v0")}}},
			&fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: &fsmpb.KVPut{Path: "t/ns/kv", Key: "k2", Value: []byte("v2"), Ttl: 1}}},
		)
		before := stateHash(t, h.f)
		res := h.apply(&fsmpb.Command{Op: &fsmpb.Command_Txn{Txn: c}})
		if len(h.fatal) > 0 {
			t.Fatalf("fatal on input: %v", h.fatal)
		}
		if _, failed := res[0].(error); failed {
			if got := stateHash(t, h.f); got != before {
				t.Fatalf("a failed transaction changed the state: %v", res[0])
			}
		}
		checkUsage(t, h.f, "after the transaction")
	})
}
