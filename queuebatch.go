package flowmesh

import (
	"strconv"
	"time"
)

// The checks of a queue batch's shape against the limits, shared by the
// embedded node, the gRPC server and the client so that a bad batch fails
// the same way wherever it is caught (the FSM checks again at apply, with
// the queue's own payload limit). Fields of items are named "jobs[3].delay"
// and "receipts[0].attempt".

// ValidateEnqueueBatch checks 1..MaxQueueBatch jobs, each payload at most
// MaxPayloadSize bytes, each delay in [0, MaxDelay], each DedupID at most
// MaxRequestIDLen bytes, and payloads totalling at most MaxBatchBytes.
func ValidateEnqueueBatch(jobs []EnqueueItem) error {
	if err := validateBatchLen("jobs", len(jobs)); err != nil {
		return err
	}
	var total int64
	for i, j := range jobs {
		if n := len(j.Payload); n > MaxPayloadSize {
			return &LimitError{What: itemField("jobs", i, "payload") + " bytes", Limit: MaxPayloadSize, Got: int64(n)}
		}
		if j.Delay < 0 || j.Delay > MaxDelay {
			return Invalid(itemField("jobs", i, "delay"), "%v is outside [0, %v]", j.Delay, MaxDelay)
		}
		if err := validateID(itemField("jobs", i, "dedup_id"), j.DedupID); err != nil {
			return err
		}
		total += int64(len(j.Payload))
	}
	if total > MaxBatchBytes {
		return &LimitError{What: "batch bytes", Limit: MaxBatchBytes, Got: total}
	}
	return nil
}

// ValidateReserveBatch checks max in 1..MaxQueueBatch and a visibility in
// [0, MaxVisibility] (0: the queue's default).
func ValidateReserveBatch(max int, visibility time.Duration) error {
	if max < 1 || max > MaxQueueBatch {
		return Invalid("max", "%d is outside 1..%d", max, MaxQueueBatch)
	}
	if visibility < 0 || visibility > MaxVisibility {
		return Invalid("visibility", "%v is outside [0, %v]", visibility, MaxVisibility)
	}
	return nil
}

// ValidateAckBatch checks 1..MaxQueueBatch receipts, each naming a job (an
// ID of at most MaxRequestIDLen bytes) and an attempt in 1..MaxInt32.
func ValidateAckBatch(receipts []Receipt) error {
	if err := validateBatchLen("receipts", len(receipts)); err != nil {
		return err
	}
	for i, r := range receipts {
		if err := validateReceipt("receipts["+strconv.Itoa(i)+"]", r); err != nil {
			return err
		}
	}
	return nil
}

func validateBatchLen(list string, n int) error {
	if n == 0 {
		return Invalid(list, "must not be empty")
	}
	if n > MaxQueueBatch {
		return &LimitError{What: list + " per batch", Limit: MaxQueueBatch, Got: int64(n)}
	}
	return nil
}

func itemField(list string, i int, field string) string {
	return list + "[" + strconv.Itoa(i) + "]." + field
}
