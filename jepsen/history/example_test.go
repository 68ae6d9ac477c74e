package history_test

import (
	"context"
	"fmt"
	"os"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/jepsen/history"
)

// A client process records each op around its SDK call.
func Example() {
	rec := history.NewRecorder()

	h := rec.Invoke(history.Op{Process: 0, F: history.Write, Key: "x", Value: "0-1", Node: "n1"})
	rev, err := uint64(7), error(nil) // kv.Put(ctx, path, "x", []byte("0-1"), ...)
	h.Error(err, func(o *history.Op) { o.Revision = rev })

	h = rec.Invoke(history.Op{Process: 1, F: history.CAS, Key: "x", Value: "1-1", Expect: 3, Node: "n2"})
	h.Error(&flowmesh.RevisionMismatchError{Key: "x", Expected: 3, Actual: 7}, nil)

	h = rec.Invoke(history.Op{Process: 2, F: history.Write, Key: "x", Value: "2-1", Node: "n3"})
	h.Error(context.DeadlineExceeded, nil)

	for _, op := range rec.History() {
		fmt.Println(op.Process, op.F, op.Value, op.Type)
	}
	_ = history.WriteJSONL(os.Stdout, nil) // the runner writes rec.History() to history.jsonl
	// Output:
	// 0 write 0-1 ok
	// 1 cas 1-1 fail
	// 2 write 2-1 info
}
