package checker

import (
	"testing"
	"time"

	"github.com/flowmesh/flowmesh/jepsen/history"
)

func enq(p int, t history.Type, v string) history.Op {
	return history.Op{Process: p, Type: t, F: history.Enqueue, Key: "q", Value: v, JobID: "id-" + v}
}

// dlv is an ok reserve delivering v at attempt.
func dlv(p int, v string, attempt int) history.Op {
	return history.Op{Process: p, Type: history.OK, F: history.Reserve, Key: "q", Value: v, JobID: "id-" + v, Attempt: attempt}
}

func ack(p int, t history.Type, v string, attempt int) history.Op {
	return history.Op{Process: p, Type: t, F: history.Ack, Key: "q", Value: v, JobID: "id-" + v, Attempt: attempt}
}

func nack(p int, t history.Type, v string, attempt int) history.Op {
	return history.Op{Process: p, Type: t, F: history.Nack, Key: "q", Value: v, JobID: "id-" + v, Attempt: attempt}
}

func empty(p int) history.Op {
	return history.Op{Process: p, Type: history.OK, F: history.Reserve, Key: "q"}
}

var queueCfg = QueueConfig{Visibility: 100 * time.Millisecond, ClockSlack: 10 * time.Millisecond}

func TestQueueValid(t *testing.T) {
	tests := []struct {
		name string
		ops  []history.Op
	}{
		{"empty", nil},
		{"fifo with acks", h(
			at(enq(0, ok, "a"), 0, 1),
			at(enq(0, ok, "b"), 2, 3),
			at(dlv(1, "a", 1), 4, 5),
			at(dlv(2, "b", 1), 4, 6),
			at(ack(1, ok, "a", 1), 7, 8),
			at(ack(2, ok, "b", 1), 7, 8),
			at(empty(1), 9, 10),
		)},
		{"concurrent enqueues delivered in either order", h(
			at(enq(0, ok, "a"), 0, 10),
			at(enq(1, ok, "b"), 0, 10),
			at(dlv(2, "b", 1), 11, 12),
			at(dlv(2, "a", 1), 13, 14),
		)},
		{"redelivery after expiry, abandon and stale ack refused", h(
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(history.Op{Process: 1, Type: ok, F: history.Abandon, Value: "a", JobID: "id-a", Attempt: 1}, 3, 3),
			at(dlv(2, "a", 2), 95, 96), // 96 >= 2 + 100 - 10
			at(ack(1, fail, "a", 1), 97, 98),
			at(ack(2, ok, "a", 2), 99, 100),
		)},
		{"redelivery after nack, ok or info", h(
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(nack(1, info, "a", 1), 4, 50),
			at(dlv(2, "a", 2), 5, 6),
			at(nack(2, ok, "a", 2), 7, 8),
			at(dlv(3, "a", 3), 9, 10),
			at(ack(3, ok, "a", 3), 11, 12),
		)},
		{"info ack, then expiry", h(
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(ack(1, info, "a", 1), 4, 5),
			at(dlv(2, "a", 2), 150, 151),
		)},
		{"info reserve took an attempt; info and failed enqueues", h(
			at(enq(0, info, "a"), 0, 1),
			at(enq(0, fail, "b"), 0, 1),
			at(enq(0, info, "c"), 0, 1),
			at(enq(0, fail, "c"), 2, 3),
			at(history.Op{Process: 1, Type: info, F: history.Reserve, Key: "q"}, 2, 3),
			at(dlv(2, "a", 2), 200, 201),
			at(dlv(2, "c", 1), 202, 203),
		)},
		{"ack with receipt only, payload found by job id", h(
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(history.Op{Process: 1, Type: ok, F: history.Ack, JobID: "id-a", Attempt: 1}, 4, 5),
		)},
		{"fifo: head reserved by an unseen reservation", h(
			at(enq(0, ok, "a"), 0, 1),
			at(enq(0, ok, "b"), 2, 3),
			at(history.Op{Process: 1, Type: info, F: history.Reserve, Key: "q"}, 4, 5),
			at(dlv(2, "b", 1), 6, 7),
			at(dlv(2, "a", 2), 200, 201),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAnomalies(t, CheckQueue(tt.ops, queueCfg))
		})
	}
}

func TestQueueAnomalies(t *testing.T) {
	tests := []struct {
		anomaly string
		ops     []history.Op
	}{
		{QueueLost, h(
			at(enq(0, ok, "a"), 0, 1),
			at(empty(1), 2, 3),
		)},
		{QueueUnexpected, h(
			at(dlv(1, "ghost", 1), 2, 3),
		)},
		{QueueFailedEnqueueDelivered, h(
			at(enq(0, fail, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
		)},
		{QueueDuplicated, h(
			// Redelivered 10ms into a 100ms reservation, with no nack.
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(dlv(2, "a", 2), 10, 11),
		)},
		{QueueDuplicated, h(
			// Two reservations with one attempt number.
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(dlv(2, "a", 1), 200, 201),
		)},
		{QueueDuplicated, h(
			// A failed nack explains nothing.
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(nack(1, fail, "a", 1), 4, 5),
			at(dlv(2, "a", 2), 6, 7),
		)},
		{QueueRedeliveredAfterAck, h(
			// Acked, then delivered again after the reservation expired.
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(ack(1, ok, "a", 1), 4, 5),
			at(dlv(2, "a", 2), 200, 201),
		)},
		{QueueStaleReceiptAckAccepted, h(
			// Attempt 2 was handed out (after expiry) before the ack of
			// attempt 1 was sent; the ack should have been refused.
			at(enq(0, ok, "a"), 0, 1),
			at(dlv(1, "a", 1), 2, 3),
			at(dlv(2, "a", 2), 150, 151),
			at(ack(1, ok, "a", 1), 160, 161),
		)},
		{QueueFIFOViolation, h(
			at(enq(0, ok, "a"), 0, 1),
			at(enq(0, ok, "b"), 2, 3),
			at(dlv(1, "b", 1), 4, 5),
			at(dlv(1, "a", 1), 6, 7),
		)},
	}
	for _, tt := range tests {
		t.Run(tt.anomaly, func(t *testing.T) {
			wantAnomalies(t, CheckQueue(tt.ops, queueCfg), tt.anomaly)
		})
	}
}
