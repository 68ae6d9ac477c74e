package flowmeshtest

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// Transactions (flowmesh.TxnManager). The group runs when the target's
// KVManager (or QueueManager) also implements TxnManager.
var txnTests = []subtest{
	{"CompareKV", testTxnCompareKV},
	{"CompareStreamNext", testTxnCompareNext},
	{"CompareJobHeld", testTxnCompareHeld},
	{"Ops", testTxnOps},
	{"ReadsSeeEarlierOps", testTxnReads},
	{"EnqueueDedup", testTxnEnqueueDedup},
	{"Transfer", testTxnTransfer},
	{"AtomicFailure", testTxnAtomic},
	{"StaleReceiptFailsWhole", testTxnStaleReceipt},
	{"IdempotentRetry", testTxnIdempotent},
	{"Limits", testTxnLimits},
	{"CrossTenant", testTxnCrossTenant},
	{"Invalid", testTxnInvalid},
}

func txner(tg Target) flowmesh.TxnManager {
	if m, ok := tg.KV.(flowmesh.TxnManager); ok {
		return m
	}
	m, _ := tg.Queues.(flowmesh.TxnManager)
	return m
}

func runTxn(t *testing.T, tg Target, txn flowmesh.Txn, opts ...flowmesh.CallOption) *flowmesh.TxnResult {
	t.Helper()
	res, err := txner(tg).Txn(testCtx(t), txn, opts...)
	ok(t, "Txn", err)
	if res == nil {
		t.Fatal("Txn returned a nil result and no error")
	}
	return res
}

// wantTxnOpError fails unless err is a *TxnOpError naming branch[index]
// whose cause matches sentinel.
func wantTxnOpError(t *testing.T, op string, err error, branch string, index int, sentinel error) {
	t.Helper()
	wantErr(t, op, err, sentinel)
	var te *flowmesh.TxnOpError
	if !errors.As(err, &te) {
		t.Fatalf("%s: got %v (%T), want a *flowmesh.TxnOpError", op, err, err)
	}
	if te.Branch != branch || te.Index != index {
		t.Fatalf("%s: TxnOpError names %s[%d], want %s[%d] (error: %v)", op, te.Branch, te.Index, branch, index, err)
	}
}

func testTxnCompareKV(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	rev := put(t, tg, kv, "k", "v1", flowmesh.KVPutOptions{})
	rev2 := put(t, tg, kv, "k", "v2", flowmesh.KVPutOptions{})
	cases := []struct {
		name string
		cmp  flowmesh.TxnCompare
		want bool
	}{
		{"revision =", flowmesh.CompareRevision(kv, "k", flowmesh.CompareEqual, rev2), true},
		{"revision = stale", flowmesh.CompareRevision(kv, "k", flowmesh.CompareEqual, rev), false},
		{"revision !=", flowmesh.CompareRevision(kv, "k", flowmesh.CompareNotEqual, rev), true},
		{"revision <", flowmesh.CompareRevision(kv, "k", flowmesh.CompareLess, rev2+1), true},
		{"revision < equal", flowmesh.CompareRevision(kv, "k", flowmesh.CompareLess, rev2), false},
		{"revision >", flowmesh.CompareRevision(kv, "k", flowmesh.CompareGreater, rev), true},
		{"revision of absent is 0", flowmesh.CompareRevision(kv, "none", flowmesh.CompareEqual, 0), true},
		{"create revision =", flowmesh.CompareCreateRevision(kv, "k", flowmesh.CompareEqual, rev), true},
		{"create revision = latest", flowmesh.CompareCreateRevision(kv, "k", flowmesh.CompareEqual, rev2), false},
		{"value =", flowmesh.CompareValue(kv, "k", flowmesh.CompareEqual, []byte("v2")), true},
		{"value = old", flowmesh.CompareValue(kv, "k", flowmesh.CompareEqual, []byte("v1")), false},
		{"value >", flowmesh.CompareValue(kv, "k", flowmesh.CompareGreater, []byte("v1")), true},
		{"value <", flowmesh.CompareValue(kv, "k", flowmesh.CompareLess, []byte("v1")), false},
		{"value of absent", flowmesh.CompareValue(kv, "none", flowmesh.CompareNotEqual, []byte("x")), false},
		{"exists", flowmesh.CompareExists(kv, "k", true), true},
		{"exists absent", flowmesh.CompareExists(kv, "none", true), false},
		{"not exists absent", flowmesh.CompareExists(kv, "none", false), true},
	}
	for _, c := range cases {
		res := runTxn(t, tg, flowmesh.Txn{Compares: []flowmesh.TxnCompare{c.cmp},
			Then: []flowmesh.TxnOp{flowmesh.OpGet(kv, "k")}, Else: []flowmesh.TxnOp{flowmesh.OpGet(kv, "k"), flowmesh.OpGet(kv, "none")}})
		if res.Succeeded != c.want {
			t.Errorf("%s: Succeeded = %v, want %v", c.name, res.Succeeded, c.want)
		}
		wantOps := 1
		if !c.want {
			wantOps = 2
		}
		if len(res.Results) != wantOps {
			t.Fatalf("%s: %d op results, want %d (the %v branch)", c.name, len(res.Results), wantOps, c.want)
		}
		if r := res.Results[0]; !r.Found || len(r.Entries) != 1 || string(r.Entries[0].Value) != "v2" || r.Entries[0].Revision != rev2 {
			t.Errorf("%s: get k = %+v, want found v2 at %d", c.name, r, rev2)
		}
		if !c.want && (res.Results[1].Found || len(res.Results[1].Entries) != 0) {
			t.Errorf("%s: get of an absent key = %+v, want not found", c.name, res.Results[1])
		}
	}
	// All compares must hold.
	res := runTxn(t, tg, flowmesh.Txn{Compares: []flowmesh.TxnCompare{
		flowmesh.CompareExists(kv, "k", true), flowmesh.CompareExists(kv, "none", true)}})
	if res.Succeeded {
		t.Error("two compares, one false: Succeeded = true")
	}
	// A compare on a missing store fails the transaction, naming it.
	_, err := txner(tg).Txn(testCtx(t), flowmesh.Txn{Compares: []flowmesh.TxnCompare{
		flowmesh.CompareExists(kv, "k", true), flowmesh.CompareExists(kv+"-missing", "k", true)}})
	wantTxnOpError(t, "compare on a missing store", err, "compares", 1, flowmesh.ErrNotFound)
}

func testTxnCompareNext(t *testing.T, tg Target) {
	st := createStream(t, tg, "events", 2).GetPath()
	appendAt := func(next uint64, payload string) *flowmesh.TxnResult {
		return runTxn(t, tg, flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{flowmesh.CompareNext(st, 1, flowmesh.CompareEqual, next)},
			Then:     []flowmesh.TxnOp{flowmesh.OpAppend(st, flowmesh.StreamEvent{Partition: 1, Payload: []byte(payload)})},
		})
	}
	for i, p := range []string{"e0", "e1"} {
		res := appendAt(uint64(i), p)
		if !res.Succeeded || len(res.Results) != 1 {
			t.Fatalf("append at %d: %+v, want the then branch", i, res)
		}
		if pos := res.Results[0].Positions; len(pos) != 1 || pos[0] != (flowmesh.Position{Partition: 1, Offset: uint64(i)}) {
			t.Fatalf("append at %d: positions %v, want [{1 %d}]", i, pos, i)
		}
	}
	// A writer that read the partition at 1 lost the race: nothing appended.
	if res := appendAt(1, "late"); res.Succeeded || len(res.Results) != 0 {
		t.Fatalf("append at a stale next offset: %+v, want the (empty) else branch", res)
	}
	info, err := tg.Streams.PartitionInfo(testCtx(t), st, 1)
	ok(t, "PartitionInfo", err)
	if info.Next != 2 {
		t.Fatalf("partition 1 next = %d, want 2", info.Next)
	}
	res := runTxn(t, tg, flowmesh.Txn{Compares: []flowmesh.TxnCompare{flowmesh.CompareNext(st, 0, flowmesh.CompareLess, 1)}})
	if !res.Succeeded {
		t.Error("next of an empty partition < 1: Succeeded = false")
	}
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Compares: []flowmesh.TxnCompare{flowmesh.CompareNext(st, 2, flowmesh.CompareEqual, 0)}})
	wantTxnOpError(t, "compare on partition 2 of 2", err, "compares", 0, flowmesh.ErrInvalidArgument)
}

func testTxnCompareHeld(t *testing.T, tg Target) {
	q := createQueue(t, tg, "jobs").GetPath()
	kv := createKV(t, tg, "results").GetPath()
	_, _, err := tg.Queues.Enqueue(testCtx(t), q, []byte("job"), flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue", err)
	job, err := tg.Queues.Reserve(testCtx(t), q, time.Minute)
	ok(t, "Reserve", err)
	if job == nil {
		t.Fatal("Reserve: no job")
	}
	step := flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareHeld(q, job.Receipt, true)},
		Then:     []flowmesh.TxnOp{flowmesh.OpAck(q, job.Receipt), flowmesh.OpPut(kv, "result/"+job.ID, []byte("done"), 0)},
	}
	notHeld := runTxn(t, tg, flowmesh.Txn{Compares: []flowmesh.TxnCompare{flowmesh.CompareHeld(q, job.Receipt, false)}})
	if notHeld.Succeeded {
		t.Error("held=false on a held receipt: Succeeded = true")
	}
	stale := flowmesh.Receipt{JobID: job.ID, Attempt: job.Attempt + 1}
	if res := runTxn(t, tg, flowmesh.Txn{Compares: []flowmesh.TxnCompare{flowmesh.CompareHeld(q, stale, true)}}); res.Succeeded {
		t.Error("held on another attempt's receipt: Succeeded = true")
	}
	if res := runTxn(t, tg, step); !res.Succeeded {
		t.Fatal("job step with a held receipt ran the else branch")
	}
	wantEntry(t, tg, kv, "result/"+job.ID, "done", get(t, tg, kv, "result/"+job.ID).Revision, get(t, tg, kv, "result/"+job.ID).CreateRevision)
	// The same step again: the receipt is no longer held.
	if res := runTxn(t, tg, step); res.Succeeded {
		t.Fatal("job step after the ack: the receipt still counts as held")
	}
	stats, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	if stats != (flowmesh.QueueStats{}) {
		t.Errorf("stats after the step: %+v, want an empty queue", stats)
	}
}

func testTxnOps(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	st := createStream(t, tg, "events", 4).GetPath()
	q := createQueue(t, tg, "jobs").GetPath()
	put(t, tg, kv, "gone", "x", flowmesh.KVPutOptions{})
	_, _, err := tg.Queues.Enqueue(testCtx(t), q, []byte("a"), flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue", err)
	_, _, err = tg.Queues.Enqueue(testCtx(t), q, []byte("b"), flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue", err)
	ja, err := tg.Queues.Reserve(testCtx(t), q, time.Minute)
	ok(t, "Reserve", err)
	jb, err := tg.Queues.Reserve(testCtx(t), q, time.Minute)
	ok(t, "Reserve", err)
	res := runTxn(t, tg, flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpPut(kv, "ttl", []byte("v"), time.Hour),
		flowmesh.OpDelete(kv, "gone"),
		flowmesh.OpAppend(st, flowmesh.StreamEvent{Partition: 3, Payload: []byte("p3"), Headers: map[string]string{"h": "1"}},
			flowmesh.StreamEvent{Key: "user-7", Payload: []byte("keyed")}),
		flowmesh.OpEnqueue(q, []byte("later"), flowmesh.QueueEnqueueOptions{Delay: time.Hour}),
		flowmesh.OpAck(q, ja.Receipt),
		flowmesh.OpNack(q, jb.Receipt, 0),
	}})
	if !res.Succeeded || len(res.Results) != 6 {
		t.Fatalf("Txn: %+v, want 6 results of then", res)
	}
	r := res.Results
	for i, want := range []flowmesh.TxnOpType{flowmesh.TxnPut, flowmesh.TxnDelete, flowmesh.TxnAppend, flowmesh.TxnEnqueue, flowmesh.TxnAck, flowmesh.TxnNack} {
		if r[i].Type != want {
			t.Errorf("results[%d].Type = %v, want %v", i, r[i].Type, want)
		}
	}
	if r[0].Revision == 0 || r[1].Revision != r[0].Revision+1 || res.Revision != r[1].Revision {
		t.Errorf("revisions: put %d, delete %d, txn %d; want consecutive, the txn's the last", r[0].Revision, r[1].Revision, res.Revision)
	}
	e := get(t, tg, kv, "ttl")
	if string(e.Value) != "v" || e.Revision != r[0].Revision || e.ExpiresAt.IsZero() {
		t.Errorf("Get(ttl) = %+v, want v at %d with an expiry", e, r[0].Revision)
	}
	wantMissing(t, tg, kv, "gone", "after the txn's delete")
	if len(r[2].Positions) != 2 || r[2].Positions[0] != (flowmesh.Position{Partition: 3, Offset: 0}) {
		t.Errorf("append positions = %v, want [{3 0} ...]", r[2].Positions)
	}
	msgs, err := tg.Streams.ReadFromOffset(testCtx(t), st, 3, 0, 10)
	ok(t, "ReadFromOffset", err)
	if len(msgs) == 0 || string(msgs[0].Payload) != "p3" || msgs[0].Headers["h"] != "1" {
		t.Errorf("partition 3 = %+v, want p3 with header h=1", msgs)
	}
	kp := r[2].Positions[1]
	msgs, err = tg.Streams.ReadFromOffset(testCtx(t), st, kp.Partition, kp.Offset, 1)
	ok(t, "ReadFromOffset", err)
	if len(msgs) != 1 || string(msgs[0].Payload) != "keyed" || msgs[0].Key != "user-7" {
		t.Errorf("keyed event at %v = %+v", kp, msgs)
	}
	if r[3].JobID == "" || r[3].Seq == 0 {
		t.Errorf("enqueue result %+v, want a job ID and sequence", r[3])
	}
	stats, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	// a acked; b nacked (ready); the new job delayed an hour.
	if stats.Ready != 1 || stats.Delayed != 1 || stats.InFlight != 0 {
		t.Errorf("stats = %+v, want 1 ready (nacked), 1 delayed (enqueued), none in flight", stats)
	}
	next, err := tg.Queues.Reserve(testCtx(t), q, time.Minute)
	ok(t, "Reserve", err)
	if next == nil || next.Receipt.JobID != jb.Receipt.JobID || next.Attempt != 2 {
		t.Errorf("Reserve after nack = %+v, want job %s attempt 2", next, jb.Receipt.JobID)
	}
}

func testTxnReads(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	for _, k := range []string{"a/1", "a/2", "b/1"} {
		put(t, tg, kv, k, "old-"+k, flowmesh.KVPutOptions{})
	}
	res := runTxn(t, tg, flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpGet(kv, "a/1"),
		flowmesh.OpPut(kv, "a/1", []byte("new"), 0),
		flowmesh.OpPut(kv, "a/3", []byte("added"), 0),
		flowmesh.OpDelete(kv, "a/2"),
		flowmesh.OpGet(kv, "a/1"),
		flowmesh.OpRange(kv, "a/", "", 0),
		flowmesh.OpRange(kv, "a/", "a/1", 1),
	}})
	r := res.Results
	if string(r[0].Entries[0].Value) != "old-a/1" || string(r[4].Entries[0].Value) != "new" {
		t.Errorf("get before/after the put: %q, %q; want old-a/1, new", r[0].Entries[0].Value, r[4].Entries[0].Value)
	}
	var keys []string
	for _, e := range r[5].Entries {
		keys = append(keys, e.Key+"="+string(e.Value))
	}
	if got := strings.Join(keys, ","); got != "a/1=new,a/3=added" {
		t.Errorf("range a/ = %s, want a/1=new,a/3=added", got)
	}
	if len(r[6].Entries) != 1 || r[6].Entries[0].Key != "a/3" || r[6].Truncated {
		t.Errorf("range a/ after a/1 limit 1 = %+v, want a/3", r[6])
	}
	if res.Revision != r[3].Revision {
		t.Errorf("TxnResult.Revision = %d, want the last change's %d", res.Revision, r[3].Revision)
	}
}

func testTxnEnqueueDedup(t *testing.T, tg Target) {
	q := createQueue(t, tg, "jobs").GetPath()
	id, seq, err := tg.Queues.Enqueue(testCtx(t), q, []byte("x"), flowmesh.QueueEnqueueOptions{DedupID: "d1"})
	ok(t, "Enqueue", err)
	res := runTxn(t, tg, flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpEnqueue(q, []byte("x"), flowmesh.QueueEnqueueOptions{DedupID: "d1"}),
		flowmesh.OpEnqueue(q, []byte("y"), flowmesh.QueueEnqueueOptions{DedupID: "d2"}),
		flowmesh.OpEnqueue(q, []byte("y"), flowmesh.QueueEnqueueOptions{DedupID: "d2"}),
	}})
	r := res.Results
	if r[0].JobID != id || r[0].Seq != seq {
		t.Errorf("repeat of an earlier DedupID = %s/%d, want the original %s/%d", r[0].JobID, r[0].Seq, id, seq)
	}
	if r[1].JobID == id || r[2].JobID != r[1].JobID {
		t.Errorf("d2 twice in one txn = %s, %s; want one new job", r[1].JobID, r[2].JobID)
	}
	stats, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	if stats.Ready != 2 {
		t.Errorf("ready = %d, want 2", stats.Ready)
	}
}

// testTxnTransfer is the shape of a transfer between accounts: two puts
// under compares on what was read, one event, one job, one call.
func testTxnTransfer(t *testing.T, tg Target) {
	kv := createKV(t, tg, "accounts").GetPath()
	st := createStream(t, tg, "ledger", 1).GetPath()
	q := createQueue(t, tg, "notify").GetPath()
	ra := put(t, tg, kv, "a", "100", flowmesh.KVPutOptions{})
	rb := put(t, tg, kv, "b", "0", flowmesh.KVPutOptions{})
	transfer := flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{
			flowmesh.CompareRevision(kv, "a", flowmesh.CompareEqual, ra),
			flowmesh.CompareRevision(kv, "b", flowmesh.CompareEqual, rb),
		},
		Then: []flowmesh.TxnOp{
			flowmesh.OpPut(kv, "a", []byte("70"), 0),
			flowmesh.OpPut(kv, "b", []byte("30"), 0),
			flowmesh.OpAppend(st, flowmesh.StreamEvent{Payload: []byte("a->b 30")}),
			flowmesh.OpEnqueue(q, []byte("a->b 30"), flowmesh.QueueEnqueueOptions{}),
		},
		Else: []flowmesh.TxnOp{flowmesh.OpGet(kv, "a"), flowmesh.OpGet(kv, "b")},
	}
	res := runTxn(t, tg, transfer)
	if !res.Succeeded {
		t.Fatal("transfer: else ran")
	}
	// The same transfer again, from stale revisions: the else branch reads the balances.
	res = runTxn(t, tg, transfer)
	if res.Succeeded || string(res.Results[0].Entries[0].Value) != "70" || string(res.Results[1].Entries[0].Value) != "30" {
		t.Fatalf("stale transfer: %+v, want else with balances 70 and 30", res)
	}
	info, err := tg.Streams.PartitionInfo(testCtx(t), st, 0)
	ok(t, "PartitionInfo", err)
	stats, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	if info.Next != 1 || stats.Ready != 1 {
		t.Errorf("after one transfer: %d events, %d jobs; want 1 and 1", info.Next, stats.Ready)
	}
}

// snapshotOf is what a failed transaction must leave unchanged.
func snapshotOf(t *testing.T, tg Target, kv, st, q string) string {
	t.Helper()
	entries, err := tg.KV.List(testCtx(t), kv, "", "", 0)
	ok(t, "List", err)
	info, err := tg.Streams.PartitionInfo(testCtx(t), st, 0)
	ok(t, "PartitionInfo", err)
	stats, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	var b bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&b, "%s=%s@%d/%d ", e.Key, e.Value, e.Revision, e.CreateRevision)
	}
	stats.OldestReadyAge = 0
	fmt.Fprintf(&b, "next=%d stats=%+v", info.Next, stats)
	return b.String()
}

func testTxnAtomic(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	st := createStream(t, tg, "events", 1).GetPath()
	q := createQueue(t, tg, "jobs").GetPath()
	put(t, tg, kv, "k", "v", flowmesh.KVPutOptions{})
	before := snapshotOf(t, tg, kv, st, q)
	failing := []struct {
		name     string
		ops      []flowmesh.TxnOp
		index    int
		sentinel error
	}{
		{"delete of a missing key", []flowmesh.TxnOp{
			flowmesh.OpPut(kv, "k", []byte("changed"), 0),
			flowmesh.OpAppend(st, flowmesh.StreamEvent{Payload: []byte("e")}),
			flowmesh.OpEnqueue(q, []byte("j"), flowmesh.QueueEnqueueOptions{}),
			flowmesh.OpDelete(kv, "missing"),
		}, 3, flowmesh.ErrNotFound},
		{"a key deleted twice", []flowmesh.TxnOp{
			flowmesh.OpDelete(kv, "k"),
			flowmesh.OpDelete(kv, "k"),
		}, 1, flowmesh.ErrNotFound},
		{"a missing stream", []flowmesh.TxnOp{
			flowmesh.OpPut(kv, "new", []byte("x"), 0),
			flowmesh.OpAppend(st+"-missing", flowmesh.StreamEvent{Payload: []byte("e")}),
		}, 1, flowmesh.ErrNotFound},
		{"a partition out of range", []flowmesh.TxnOp{
			flowmesh.OpEnqueue(q, []byte("j"), flowmesh.QueueEnqueueOptions{}),
			flowmesh.OpAppend(st, flowmesh.StreamEvent{Partition: 5, Payload: []byte("e")}),
		}, 1, flowmesh.ErrInvalidArgument},
		{"a queue that is a KV store", []flowmesh.TxnOp{
			flowmesh.OpPut(kv, "new", []byte("x"), 0),
			flowmesh.OpEnqueue(kv, []byte("j"), flowmesh.QueueEnqueueOptions{}),
		}, 1, flowmesh.ErrWrongKind},
	}
	for _, c := range failing {
		_, err := txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: c.ops})
		wantTxnOpError(t, c.name, err, "then", c.index, c.sentinel)
		if after := snapshotOf(t, tg, kv, st, q); after != before {
			t.Fatalf("%s: state changed:\nbefore %s\nafter  %s", c.name, before, after)
		}
	}
	// The else branch is checked the same way when it runs.
	_, err := txner(tg).Txn(testCtx(t), flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists(kv, "k", false)},
		Then:     []flowmesh.TxnOp{flowmesh.OpDelete(kv, "missing")},
		Else:     []flowmesh.TxnOp{flowmesh.OpPut(kv, "k", []byte("else"), 0), flowmesh.OpDelete(kv, "missing")},
	})
	wantTxnOpError(t, "failing else", err, "else", 1, flowmesh.ErrNotFound)
	if after := snapshotOf(t, tg, kv, st, q); after != before {
		t.Fatalf("failing else: state changed:\nbefore %s\nafter  %s", before, after)
	}
}

func testTxnStaleReceipt(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	st := createStream(t, tg, "events", 1).GetPath()
	q := createQueue(t, tg, "jobs").GetPath()
	_, _, err := tg.Queues.Enqueue(testCtx(t), q, []byte("a"), flowmesh.QueueEnqueueOptions{})
	ok(t, "Enqueue", err)
	job, err := tg.Queues.Reserve(testCtx(t), q, time.Minute)
	ok(t, "Reserve", err)
	before := snapshotOf(t, tg, kv, st, q)
	for _, c := range []struct {
		name  string
		ops   []flowmesh.TxnOp
		index int
	}{
		{"another attempt", []flowmesh.TxnOp{flowmesh.OpPut(kv, "r", []byte("x"), 0), flowmesh.OpAck(q, flowmesh.Receipt{JobID: job.ID, Attempt: 2})}, 1},
		{"acked twice", []flowmesh.TxnOp{flowmesh.OpAck(q, job.Receipt), flowmesh.OpAppend(st, flowmesh.StreamEvent{}), flowmesh.OpAck(q, job.Receipt)}, 2},
		{"acked then nacked", []flowmesh.TxnOp{flowmesh.OpAck(q, job.Receipt), flowmesh.OpNack(q, job.Receipt, 0)}, 1},
	} {
		_, err := txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: c.ops})
		wantTxnOpError(t, c.name, err, "then", c.index, flowmesh.ErrStaleReceipt)
		if after := snapshotOf(t, tg, kv, st, q); after != before {
			t.Fatalf("%s: state changed:\nbefore %s\nafter  %s", c.name, before, after)
		}
	}
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpAck(q, flowmesh.Receipt{JobID: "no-such-job", Attempt: 1})}})
	wantTxnOpError(t, "unknown job", err, "then", 0, flowmesh.ErrNotFound)
}

func testTxnIdempotent(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	st := createStream(t, tg, "events", 1).GetPath()
	q := createQueue(t, tg, "jobs").GetPath()
	txn := flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpPut(kv, "k", []byte("v"), 0),
		flowmesh.OpAppend(st, flowmesh.StreamEvent{Payload: []byte("e")}),
		flowmesh.OpEnqueue(q, []byte("j"), flowmesh.QueueEnqueueOptions{}),
	}}
	first := runTxn(t, tg, txn, flowmesh.WithRequestID("txn-1"))
	again := runTxn(t, tg, txn, flowmesh.WithRequestID("txn-1"))
	if fmt.Sprintf("%+v", first) != fmt.Sprintf("%+v", again) {
		t.Fatalf("retry result differs:\nfirst %+v\nretry %+v", first, again)
	}
	wantEntry(t, tg, kv, "k", "v", first.Results[0].Revision, first.Results[0].Revision)
	info, err := tg.Streams.PartitionInfo(testCtx(t), st, 0)
	ok(t, "PartitionInfo", err)
	stats, err := tg.Queues.Stats(testCtx(t), q)
	ok(t, "Stats", err)
	if info.Next != 1 || stats.Ready != 1 {
		t.Errorf("after a retried txn: %d events, %d jobs; want 1 and 1", info.Next, stats.Ready)
	}
	// Without the request ID it is a new transaction.
	third := runTxn(t, tg, txn)
	if third.Results[0].Revision == first.Results[0].Revision {
		t.Error("a txn without a request ID returned the deduplicated result")
	}
}

func testTxnLimits(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	ops := make([]flowmesh.TxnOp, flowmesh.MaxTxnOps+1)
	for i := range ops {
		ops[i] = flowmesh.OpGet(kv, "k")
	}
	_, err := txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: ops[:flowmesh.MaxTxnOps/2+1], Else: ops[:flowmesh.MaxTxnOps/2]})
	wantLimit(t, "MaxTxnOps+1 ops over both branches", err)
	res := runTxn(t, tg, flowmesh.Txn{Then: ops[:flowmesh.MaxTxnOps]})
	if len(res.Results) != flowmesh.MaxTxnOps {
		t.Errorf("MaxTxnOps ops: %d results", len(res.Results))
	}
	cmps := make([]flowmesh.TxnCompare, flowmesh.MaxTxnCompares+1)
	for i := range cmps {
		cmps[i] = flowmesh.CompareExists(kv, "k", false)
	}
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Compares: cmps})
	wantLimit(t, "MaxTxnCompares+1 compares", err)
	big := make([]byte, flowmesh.MaxPayloadSize)
	var puts []flowmesh.TxnOp
	for i := 0; i*flowmesh.MaxPayloadSize <= flowmesh.MaxTxnBytes; i++ {
		puts = append(puts, flowmesh.OpPut(kv, fmt.Sprintf("big%d", i), big, 0))
	}
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: puts})
	wantLimit(t, "puts over MaxTxnBytes", err)
	wantMissing(t, tg, kv, "big0", "after a txn over MaxTxnBytes")
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut(kv, "k", make([]byte, flowmesh.MaxPayloadSize+1), 0)}})
	wantLimit(t, "value over MaxPayloadSize", err)
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpRange(kv, "", "", flowmesh.MaxTxnRangeEntries+1)}})
	wantInvalid(t, "range limit over MaxTxnRangeEntries", err, "then[0].limit")
}

func testTxnCrossTenant(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	tenant, ns := scope(t)
	other := createOther(t, tg, tenant+"-x", ns)
	_, err := txner(tg).Txn(testCtx(t), flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists(kv, "k", false)},
		Then:     []flowmesh.TxnOp{flowmesh.OpPut(kv, "k", []byte("v"), 0), flowmesh.OpPut(other, "k", []byte("v"), 0)},
	})
	wantInvalid(t, "a second tenant", err, "then[1].path")
	var ie *flowmesh.InvalidArgumentError
	if errors.As(err, &ie) && !strings.Contains(ie.Reason, "one tenant") {
		t.Errorf("reason %q does not say a transaction acts on one tenant", ie.Reason)
	}
	wantMissing(t, tg, kv, "k", "after a cross-tenant txn")
	_, err = txner(tg).Txn(testCtx(t), flowmesh.Txn{Compares: []flowmesh.TxnCompare{
		flowmesh.CompareExists(other, "k", false), flowmesh.CompareExists(kv, "k", false)}})
	wantInvalid(t, "compares over two tenants", err, "compares[1].path")
}

// createOther creates a KV store in another tenant and returns its path.
func createOther(t *testing.T, tg Target, tenant, ns string) string {
	t.Helper()
	r, err := tg.Resources.CreateKVStore(testCtx(t), tenant, ns, "kv")
	ok(t, "CreateKVStore", err)
	return r.GetPath()
}

func testTxnInvalid(t *testing.T, tg Target) {
	kv := createKV(t, tg, "kv").GetPath()
	q := createQueue(t, tg, "jobs").GetPath()
	cases := []struct {
		name  string
		txn   flowmesh.Txn
		field string
	}{
		{"empty", flowmesh.Txn{}, "txn"},
		{"empty key", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut(kv, "", nil, 0)}}, "then[0].key"},
		{"bad path", flowmesh.Txn{Else: []flowmesh.TxnOp{flowmesh.OpGet("nopath", "k")}}, "else[0].path"},
		{"negative ttl", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpPut(kv, "k", nil, -time.Second)}}, "then[0].ttl"},
		{"no events", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpGet(kv, "k"), flowmesh.OpAppend(kv)}}, "then[1].events"},
		{"receipt without job", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpAck(q, flowmesh.Receipt{Attempt: 1})}}, "then[0].receipt.job_id"},
		{"delay too long", flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpEnqueue(q, nil, flowmesh.QueueEnqueueOptions{Delay: flowmesh.MaxDelay + 1})}}, "then[0].delay"},
		{"unknown op", flowmesh.Txn{Then: []flowmesh.TxnOp{{Path: kv}}}, "then[0].type"},
		{"unknown target", flowmesh.Txn{Compares: []flowmesh.TxnCompare{{Target: 99, Path: kv}}}, "compares[0].target"},
		{"less on exists", flowmesh.Txn{Compares: []flowmesh.TxnCompare{{Target: flowmesh.CompareKVExists, Op: flowmesh.CompareLess, Path: kv, Key: "k"}}}, "compares[0].op"},
	}
	for _, c := range cases {
		_, err := txner(tg).Txn(testCtx(t), c.txn)
		wantInvalid(t, c.name, err, c.field)
	}
}
