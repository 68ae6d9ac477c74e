package pbconv

import (
	"reflect"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm"
)

// TestTxnRoundTrips: every compare and op survives the wire (and the
// FSM's log form), and so does a result.
func TestTxnRoundTrips(t *testing.T) {
	r := flowmesh.Receipt{JobID: "5.0", Attempt: 2}
	txn := flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{
			flowmesh.CompareRevision("t/n/kv", "a", flowmesh.CompareLess, 7),
			flowmesh.CompareCreateRevision("t/n/kv", "a", flowmesh.CompareEqual, 3),
			flowmesh.CompareValue("t/n/kv", "a", flowmesh.CompareGreater, []byte("x")),
			flowmesh.CompareExists("t/n/kv", "b", true),
			flowmesh.CompareNext("t/n/s", 2, flowmesh.CompareNotEqual, 9),
			flowmesh.CompareHeld("t/n/q", r, true),
		},
		Then: []flowmesh.TxnOp{
			flowmesh.OpPut("t/n/kv", "a", []byte("v"), time.Minute),
			flowmesh.OpDelete("t/n/kv", "b"),
			flowmesh.OpAppend("t/n/s", flowmesh.StreamEvent{Payload: []byte("p"), Headers: map[string]string{"h": "1"}, Partition: 1},
				flowmesh.StreamEvent{Payload: []byte("q"), Key: "k"}),
			flowmesh.OpEnqueue("t/n/q", []byte("j"), flowmesh.QueueEnqueueOptions{Delay: time.Second, DedupID: "d"}),
			flowmesh.OpAck("t/n/q", r),
		},
		Else: []flowmesh.TxnOp{
			flowmesh.OpNack("t/n/q", r, time.Second),
			flowmesh.OpGet("t/n/kv", "a"),
			flowmesh.OpRange("t/n/kv", "p", "p1", 5),
		},
	}
	if got := FromTxnRequest(roundTrip(t, TxnRequest(txn))); !reflect.DeepEqual(got, txn) {
		t.Errorf("wire round trip:\n got %+v\nwant %+v", got, txn)
	}
	if got := fsm.TxnFromPB(roundTrip(t, fsm.TxnToPB(txn))); !reflect.DeepEqual(got, txn) {
		t.Errorf("log round trip:\n got %+v\nwant %+v", got, txn)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	res := &flowmesh.TxnResult{Succeeded: true, Revision: 12, Results: []flowmesh.TxnOpResult{
		{Type: flowmesh.TxnPut, Revision: 11},
		{Type: flowmesh.TxnAppend, Positions: []flowmesh.Position{{Partition: 1, Offset: 4}}},
		{Type: flowmesh.TxnEnqueue, JobID: "12.0.2", Seq: 3},
		{Type: flowmesh.TxnGet, Found: true, Entries: []flowmesh.KVEntry{{Key: "a", Value: []byte("v"), Revision: 11, CreateRevision: 2, ExpiresAt: at}}},
		{Type: flowmesh.TxnRange, Truncated: true},
	}}
	types := []flowmesh.TxnOpType{flowmesh.TxnPut, flowmesh.TxnAppend, flowmesh.TxnEnqueue, flowmesh.TxnGet, flowmesh.TxnRange}
	if got := FromTxnResponse(roundTrip(t, TxnResponse(res)), types); !reflect.DeepEqual(got, res) {
		t.Errorf("result round trip:\n got %+v\nwant %+v", got, res)
	}
}
