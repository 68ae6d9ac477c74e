package history

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/flowmesh/flowmesh"
)

type notProposedErr struct{ np bool }

func (e notProposedErr) Error() string     { return "refused" }
func (e notProposedErr) NotProposed() bool { return e.np }

func TestClassify(t *testing.T) {
	wrappedDeadline := fmt.Errorf("call: %w", context.DeadlineExceeded)
	tests := []struct {
		name string
		f    F
		err  error
		want Type
	}{
		{"nil", Write, nil, OK},
		{"read any error", Read, errors.New("boom"), Fail},
		{"read deadline", Poll, context.DeadlineExceeded, Fail},
		{"final read not leader", FinalRead, flowmesh.ErrNotLeader, Fail},
		{"invalid argument", Write, flowmesh.Invalid("key", "empty"), Fail},
		{"not found", Ack, flowmesh.ErrNotFound, Fail},
		{"revision mismatch", CAS, &flowmesh.RevisionMismatchError{Key: "k", Expected: 1, Actual: 2}, Fail},
		{"stale receipt", Ack, fmt.Errorf("ack: %w", flowmesh.ErrStaleReceipt), Fail},
		{"limit", Append, &flowmesh.LimitError{What: "batch", Limit: 1, Got: 2}, Fail},
		{"wrong kind", Enqueue, flowmesh.ErrWrongKind, Fail},
		{"deadline", Write, wrappedDeadline, Info},
		{"canceled", Enqueue, context.Canceled, Info},
		{"not leader", Write, &flowmesh.NotLeaderError{LeaderID: "n2", LeaderAddr: "x"}, Info},
		{"no leader", Append, flowmesh.ErrNoLeader, Info},
		{"stopped", Reserve, flowmesh.ErrStopped, Info},
		{"already exists", Write, flowmesh.ErrAlreadyExists, Info},
		{"unknown", Nack, errors.New("rpc error: code = Unavailable"), Info},
		{"marked not proposed", Write, fmt.Errorf("x: %w", notProposedErr{np: true}), Fail},
		{"marked proposed", Write, notProposedErr{np: false}, Info},
		{"deadline beats definite", Write, errors.Join(context.DeadlineExceeded, flowmesh.ErrNotFound), Info},
	}
	for _, tt := range tests {
		if got := Classify(tt.f, tt.err); got != tt.want {
			t.Errorf("%s: Classify(%s, %v) = %s, want %s", tt.name, tt.f, tt.err, got, tt.want)
		}
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for i := range 50 {
				h := r.Invoke(Op{Process: p, F: Write, Key: "k", Value: fmt.Sprintf("%d-%d", p, i)})
				switch i % 3 {
				case 0:
					h.OK(func(o *Op) { o.Revision = uint64(i + 1) })
				case 1:
					h.Error(flowmesh.ErrRevisionMismatch, nil)
				case 2:
					h.Error(context.DeadlineExceeded, nil)
				}
				if h.OK(nil) {
					t.Errorf("second completion accepted")
				}
			}
		})
	}
	wg.Wait()
	pending := r.Invoke(Op{Process: 9, F: Enqueue, Value: "v"})
	ops := r.History()
	if len(ops) != 8*50+1 {
		t.Fatalf("got %d ops, want %d", len(ops), 8*50+1)
	}
	counts := map[Type]int{}
	for i, op := range ops {
		if op.Index != i {
			t.Fatalf("op %d has index %d", i, op.Index)
		}
		if op.CompleteTime < op.InvokeTime {
			t.Errorf("op %d completes before it is invoked: %v", i, op)
		}
		counts[op.Type]++
	}
	if want := (map[Type]int{OK: 8 * 17, Fail: 8 * 17, Info: 8*16 + 1}); !reflect.DeepEqual(counts, want) {
		t.Errorf("types = %v, want %v", counts, want)
	}
	if got := ops[len(ops)-1]; got.Type != Info || got.Err == "" {
		t.Errorf("pending op = %v, want info with a reason", got)
	}
	if got := pending.Op().Type; got != Invoke {
		t.Errorf("History changed the recorder: pending op is %s", got)
	}
}

func TestJSONLRoundTrip(t *testing.T) {
	ops := []Op{
		{Index: 0, Process: 1, Type: OK, F: CAS, Key: "k", Value: "v1", Expect: 3, Revision: 7, Node: "n1", InvokeTime: 5, CompleteTime: 9},
		{Index: 1, Process: 2, Type: OK, F: Poll, Key: "s", Partition: 2, From: 4, Seek: true, Messages: []Message{{Offset: 4, Value: "a"}, {Offset: 5, Value: "b"}}},
		{Index: 2, Process: 3, Type: Info, F: Ack, JobID: "12.0", Attempt: 2, Err: "deadline"},
	}
	var buf bytes.Buffer
	if err := WriteJSONL(&buf, ops); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "\n"); n != len(ops) {
		t.Fatalf("%d lines, want %d", n, len(ops))
	}
	got, err := ReadJSONL(strings.NewReader(buf.String() + "\n  \n"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ops) {
		t.Errorf("round trip:\n got %v\nwant %v", got, ops)
	}
}

func TestReadJSONLErrors(t *testing.T) {
	for _, in := range []string{
		`{"index":0,"type":"ok"`,
		`{"index":0,"type":"maybe","f":"read"}`,
		`{"index":0,"type":"ok"}`,
	} {
		if _, err := ReadJSONL(strings.NewReader(in)); err == nil {
			t.Errorf("ReadJSONL(%q) succeeded, want an error", in)
		}
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(`{"index":0,"process":1,"type":"ok","f":"read","key":"k","value":"v","invoke_ns":1,"complete_ns":2}` + "\n"))
	f.Add([]byte(`{"type":"info","f":"poll","messages":[{"offset":1,"value":"x"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := ReadJSONL(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteJSONL(&buf, ops); err != nil {
			t.Fatal(err)
		}
		again, err := ReadJSONL(&buf)
		if err != nil {
			t.Fatalf("re-reading a written history: %v", err)
		}
		if len(again) != len(ops) {
			t.Fatalf("%d ops after round trip, want %d", len(again), len(ops))
		}
	})
}
