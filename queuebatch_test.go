package flowmesh_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// Each bad batch fails with the error kind and the field (or limit) that
// names what is wrong; good batches at the limits pass.
func TestValidateQueueBatches(t *testing.T) {
	job := func(n int) flowmesh.EnqueueItem { return flowmesh.EnqueueItem{Payload: make([]byte, n)} }
	jobs := func(k, n int) []flowmesh.EnqueueItem {
		out := make([]flowmesh.EnqueueItem, k)
		for i := range out {
			out[i] = job(n)
		}
		return out
	}
	receipts := func(k int) []flowmesh.Receipt {
		out := make([]flowmesh.Receipt, k)
		for i := range out {
			out[i] = flowmesh.Receipt{JobID: "j", Attempt: 1}
		}
		return out
	}
	withJob := func(i int, j flowmesh.EnqueueItem) []flowmesh.EnqueueItem { js := jobs(3, 1); js[i] = j; return js }
	withReceipt := func(i int, r flowmesh.Receipt) []flowmesh.Receipt { rs := receipts(3); rs[i] = r; return rs }
	long := strings.Repeat("x", flowmesh.MaxRequestIDLen+1)
	for _, tc := range []struct {
		name string
		err  error
		kind error  // nil: valid
		want string // in the error text
	}{
		{"enqueue: limits", flowmesh.ValidateEnqueueBatch(jobs(flowmesh.MaxQueueBatch, flowmesh.MaxBatchBytes/flowmesh.MaxQueueBatch)), nil, ""},
		{"enqueue: none", flowmesh.ValidateEnqueueBatch(nil), flowmesh.ErrInvalidArgument, "jobs"},
		{"enqueue: too many", flowmesh.ValidateEnqueueBatch(jobs(flowmesh.MaxQueueBatch+1, 1)), flowmesh.ErrLimitExceeded, "jobs per batch"},
		{"enqueue: payload", flowmesh.ValidateEnqueueBatch(withJob(1, job(flowmesh.MaxPayloadSize+1))), flowmesh.ErrLimitExceeded, "jobs[1].payload bytes"},
		{"enqueue: bytes", flowmesh.ValidateEnqueueBatch(jobs(2, flowmesh.MaxBatchBytes/2+1)), flowmesh.ErrLimitExceeded, "batch bytes"},
		{"enqueue: negative delay", flowmesh.ValidateEnqueueBatch(withJob(2, flowmesh.EnqueueItem{QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: -time.Second}})), flowmesh.ErrInvalidArgument, "jobs[2].delay"},
		{"enqueue: long delay", flowmesh.ValidateEnqueueBatch(withJob(0, flowmesh.EnqueueItem{QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{Delay: flowmesh.MaxDelay + 1}})), flowmesh.ErrInvalidArgument, "jobs[0].delay"},
		{"enqueue: dedup ID", flowmesh.ValidateEnqueueBatch(withJob(1, flowmesh.EnqueueItem{QueueEnqueueOptions: flowmesh.QueueEnqueueOptions{DedupID: long}})), flowmesh.ErrInvalidArgument, "jobs[1].dedup_id"},
		{"reserve: limits", flowmesh.ValidateReserveBatch(flowmesh.MaxQueueBatch, flowmesh.MaxVisibility), nil, ""},
		{"reserve: max 0", flowmesh.ValidateReserveBatch(0, 0), flowmesh.ErrInvalidArgument, "max"},
		{"reserve: max over", flowmesh.ValidateReserveBatch(flowmesh.MaxQueueBatch+1, 0), flowmesh.ErrInvalidArgument, "max"},
		{"reserve: negative visibility", flowmesh.ValidateReserveBatch(1, -1), flowmesh.ErrInvalidArgument, "visibility"},
		{"reserve: long visibility", flowmesh.ValidateReserveBatch(1, flowmesh.MaxVisibility+1), flowmesh.ErrInvalidArgument, "visibility"},
		{"ack: limits", flowmesh.ValidateAckBatch(receipts(flowmesh.MaxQueueBatch)), nil, ""},
		{"ack: none", flowmesh.ValidateAckBatch(nil), flowmesh.ErrInvalidArgument, "receipts"},
		{"ack: too many", flowmesh.ValidateAckBatch(receipts(flowmesh.MaxQueueBatch + 1)), flowmesh.ErrLimitExceeded, "receipts per batch"},
		{"ack: empty job ID", flowmesh.ValidateAckBatch(withReceipt(1, flowmesh.Receipt{Attempt: 1})), flowmesh.ErrInvalidArgument, "receipts[1].job_id"},
		{"ack: long job ID", flowmesh.ValidateAckBatch(withReceipt(2, flowmesh.Receipt{JobID: long, Attempt: 1})), flowmesh.ErrInvalidArgument, "receipts[2].job_id"},
		{"ack: attempt 0", flowmesh.ValidateAckBatch(withReceipt(0, flowmesh.Receipt{JobID: "j"})), flowmesh.ErrInvalidArgument, "receipts[0].attempt"},
		{"ack: attempt over int32", flowmesh.ValidateAckBatch(withReceipt(0, flowmesh.Receipt{JobID: "j", Attempt: math.MaxInt32 + 1})), flowmesh.ErrInvalidArgument, "receipts[0].attempt"},
		{"wait: limits", flowmesh.ValidateReserveWait(flowmesh.MaxReserveWait), nil, ""},
		{"wait: negative", flowmesh.ValidateReserveWait(-1), flowmesh.ErrInvalidArgument, "wait"},
		{"wait: long", flowmesh.ValidateReserveWait(flowmesh.MaxReserveWait + 1), flowmesh.ErrInvalidArgument, "wait"},
	} {
		switch {
		case tc.kind == nil && tc.err != nil:
			t.Errorf("%s: %v, want valid", tc.name, tc.err)
		case tc.kind != nil && !errors.Is(tc.err, tc.kind):
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.kind)
		case tc.kind != nil && !strings.Contains(tc.err.Error(), tc.want):
			t.Errorf("%s: %q does not name %q", tc.name, tc.err, tc.want)
		}
	}
}
