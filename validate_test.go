package flowmesh_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// TestValidateOperations: each operation's check accepts its arguments at
// the limits and refuses one past them with the error type and the field
// (or limit) it names.
func TestValidateOperations(t *testing.T) {
	key := strings.Repeat("k", flowmesh.MaxKeyLength)
	id := strings.Repeat("i", flowmesh.MaxRequestIDLen)
	payload := make([]byte, flowmesh.MaxPayloadSize)
	r := flowmesh.Receipt{JobID: "1.0", Attempt: 1}
	neg := int64(-1)
	tests := []struct {
		name  string
		err   error
		want  error  // nil: accepted
		field string // the InvalidArgumentError's Field or the LimitError's What
	}{
		{"call options: at the limits", flowmesh.ValidateCallOptions(flowmesh.CallOptions{RequestID: id, ProducerID: id, Consistency: flowmesh.Stale}), nil, ""},
		{"call options: long request ID", flowmesh.ValidateCallOptions(flowmesh.CallOptions{RequestID: id + "i"}), flowmesh.ErrInvalidArgument, "request_id"},
		{"call options: producer ID not UTF-8", flowmesh.ValidateCallOptions(flowmesh.CallOptions{ProducerID: "\xff"}), flowmesh.ErrInvalidArgument, "producer_id"},
		{"call options: unknown consistency", flowmesh.ValidateCallOptions(flowmesh.CallOptions{Consistency: 3}), flowmesh.ErrInvalidArgument, "consistency"},
		{"call options: negative staleness", flowmesh.ValidateCallOptions(flowmesh.CallOptions{MaxStaleness: -1}), flowmesh.ErrInvalidArgument, "max_staleness"},

		{"put: at the limits", flowmesh.ValidatePut(key, payload, flowmesh.KVPutOptions{TTL: flowmesh.MaxTTL}), nil, ""},
		{"put: long key", flowmesh.ValidatePut(key+"k", nil, flowmesh.KVPutOptions{}), flowmesh.ErrLimitExceeded, "key length"},
		{"put: key not UTF-8", flowmesh.ValidatePut("\xff", nil, flowmesh.KVPutOptions{}), flowmesh.ErrInvalidArgument, "key"},
		{"put: value", flowmesh.ValidatePut("k", append(payload, 0), flowmesh.KVPutOptions{}), flowmesh.ErrLimitExceeded, "value bytes"},
		{"put: TTL", flowmesh.ValidatePut("k", nil, flowmesh.KVPutOptions{TTL: -1}), flowmesh.ErrInvalidArgument, "ttl"},
		{"get: empty key", flowmesh.ValidateGet(""), flowmesh.ErrInvalidArgument, "key"},
		{"delete: empty key", flowmesh.ValidateDelete(""), flowmesh.ErrInvalidArgument, "key"},
		{"list: empty prefix and after", flowmesh.ValidateList("", "", 0), nil, ""},
		{"list: after", flowmesh.ValidateList("", key+"k", 1), flowmesh.ErrLimitExceeded, "after length"},
		{"list: limit", flowmesh.ValidateList("", "", flowmesh.MaxListEntries+1), flowmesh.ErrInvalidArgument, "limit"},
		{"watch: prefix not UTF-8", flowmesh.ValidateWatch("\xff"), flowmesh.ErrInvalidArgument, "prefix"},

		{"write events: at the limits", flowmesh.ValidateWriteEvents([]flowmesh.StreamEvent{{Payload: payload, Key: "\xff", Partition: flowmesh.MaxPartitions - 1}}), nil, ""},
		{"write events: none", flowmesh.ValidateWriteEvents(nil), flowmesh.ErrInvalidArgument, "events"},
		{"write events: too many", flowmesh.ValidateWriteEvents(make([]flowmesh.StreamEvent, flowmesh.MaxBatchEvents+1)), flowmesh.ErrLimitExceeded, "events per batch"},
		{"write events: key", flowmesh.ValidateWriteEvents([]flowmesh.StreamEvent{{}, {Key: key + "k"}}), flowmesh.ErrLimitExceeded, "events[1].key length"},
		{"write events: empty header key", flowmesh.ValidateWriteEvents([]flowmesh.StreamEvent{{Headers: map[string]string{"": "v"}}}), flowmesh.ErrInvalidArgument, "events[0].headers"},
		{"write events: header not UTF-8", flowmesh.ValidateWriteEvents([]flowmesh.StreamEvent{{Headers: map[string]string{"h": "\xff"}}}), flowmesh.ErrInvalidArgument, "events[0].headers"},
		{"write events: partition", flowmesh.ValidateWriteEvents([]flowmesh.StreamEvent{{Partition: flowmesh.MaxPartitions}}), flowmesh.ErrInvalidArgument, "events[0].partition"},
		{"write events: batch bytes", flowmesh.ValidateWriteEvents([]flowmesh.StreamEvent{{Payload: payload}, {Payload: payload}}), flowmesh.ErrLimitExceeded, "batch bytes"},
		{"read: max", flowmesh.ValidateReadFromOffset(0, flowmesh.MaxReadMessages+1), flowmesh.ErrInvalidArgument, "max"},
		{"subscribe: partition", flowmesh.ValidateSubscribe(-1), flowmesh.ErrInvalidArgument, "partition"},
		{"partition info: partition", flowmesh.ValidatePartitionInfo(flowmesh.MaxPartitions), flowmesh.ErrInvalidArgument, "partition"},
		{"commit offset: long group", flowmesh.ValidateCommitOffset(strings.Repeat("g", flowmesh.MaxGroupNameLen+1), 0), flowmesh.ErrInvalidArgument, "group"},
		{"fetch offset: empty group", flowmesh.ValidateFetchOffset("", 0), flowmesh.ErrInvalidArgument, "group"},

		{"enqueue: at the limits", flowmesh.ValidateEnqueue(payload, flowmesh.QueueEnqueueOptions{Delay: flowmesh.MaxDelay, DedupID: id}), nil, ""},
		{"enqueue: payload", flowmesh.ValidateEnqueue(append(payload, 0), flowmesh.QueueEnqueueOptions{}), flowmesh.ErrLimitExceeded, "payload bytes"},
		{"enqueue: dedup ID", flowmesh.ValidateEnqueue(nil, flowmesh.QueueEnqueueOptions{DedupID: "\xff"}), flowmesh.ErrInvalidArgument, "dedup_id"},
		{"reserve: default visibility", flowmesh.ValidateReserve(0), nil, ""},
		{"reserve: visibility", flowmesh.ValidateReserve(flowmesh.MaxVisibility + 1), flowmesh.ErrInvalidArgument, "visibility"},
		{"ack: attempt", flowmesh.ValidateAck(flowmesh.Receipt{JobID: "j"}), flowmesh.ErrInvalidArgument, "receipt.attempt"},
		{"ack: job ID not UTF-8", flowmesh.ValidateAck(flowmesh.Receipt{JobID: "\xff", Attempt: 1}), flowmesh.ErrInvalidArgument, "receipt.job_id"},
		{"nack: delay", flowmesh.ValidateNack(r, -time.Second), flowmesh.ErrInvalidArgument, "delay"},
		{"touch: no default", flowmesh.ValidateTouch(r, 0), flowmesh.ErrInvalidArgument, "visibility"},
		{"remove from in-flight: empty", flowmesh.ValidateRemoveFromInFlight(""), flowmesh.ErrInvalidArgument, "job_id"},
		{"list dead: limit", flowmesh.ValidateListDead(-1), flowmesh.ErrInvalidArgument, "limit"},

		{"create stream: ok", flowmesh.ValidateCreateStream("t", "ns", "s", flowmesh.StreamConfig{Partitions: flowmesh.MaxPartitions}), nil, ""},
		{"create stream: retention", flowmesh.ValidateCreateStream("t", "ns", "s", flowmesh.StreamConfig{Partitions: 1, MaxAge: -1}), flowmesh.ErrInvalidArgument, "max_age"},
		{"create queue: defaults", flowmesh.ValidateCreateQueue("t", "ns", "q", 0, flowmesh.QueueConfig{}), nil, ""},
		{"create queue: name not UTF-8", flowmesh.ValidateCreateQueue("t", "ns", "\xff", 1, flowmesh.QueueConfig{}), flowmesh.ErrInvalidArgument, "name"},
		{"create queue: payload", flowmesh.ValidateCreateQueue("t", "ns", "q", 1, flowmesh.QueueConfig{MaxPayload: flowmesh.MaxPayloadSize + 1}), flowmesh.ErrInvalidArgument, "max_payload"},
		{"create queue: own dead-letter queue", flowmesh.ValidateCreateQueue("t", "ns", "q", 1, flowmesh.QueueConfig{DeadLetterQueue: "t/ns/q"}), flowmesh.ErrInvalidArgument, "dead_letter_queue"},
		{"create kv: history", flowmesh.ValidateCreateKVStore("t", "ns", "kv", flowmesh.KVConfig{HistoryRevisions: flowmesh.MaxKVHistory + 1}), flowmesh.ErrInvalidArgument, "history_revisions"},
		{"stored queue without defaults", flowmesh.ValidateResource(&flowmesh.Resource{Tenant: "t", Namespace: "ns", Name: "q", Kind: flowmesh.KindQueue, Queue: &flowmesh.QueueConfig{}}), flowmesh.ErrInvalidArgument, "visibility_timeout"},
		{"list resources: all namespaces", flowmesh.ValidateListResources("t", ""), nil, ""},
		{"set quota: default tenant", flowmesh.ValidateSetQuota(flowmesh.DefaultQuotaTenant, flowmesh.QuotaLimits{MemoryBytes: &neg}), flowmesh.ErrInvalidArgument, flowmesh.QuotaMemoryBytes},
		{"set quota: memory on a tenant", flowmesh.ValidateSetQuota("t", flowmesh.QuotaLimits{MemoryBytes: new(int64)}), flowmesh.ErrInvalidArgument, flowmesh.QuotaMemoryBytes},
		{"path not UTF-8", flowmesh.ValidatePath("t/ns/\xff"), flowmesh.ErrInvalidArgument, "path"},
	}
	for _, tc := range tests {
		if tc.want == nil {
			if tc.err != nil {
				t.Errorf("%s: %v, want no error", tc.name, tc.err)
			}
			continue
		}
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
			continue
		}
		var ia *flowmesh.InvalidArgumentError
		var le *flowmesh.LimitError
		switch {
		case errors.As(tc.err, &ia):
			if ia.Field != tc.field {
				t.Errorf("%s: field %q, want %q (%v)", tc.name, ia.Field, tc.field, tc.err)
			}
		case errors.As(tc.err, &le):
			if le.What != tc.field {
				t.Errorf("%s: limit %q, want %q (%v)", tc.name, le.What, tc.field, tc.err)
			}
		default:
			t.Errorf("%s: %v (%T), want a typed error", tc.name, tc.err, tc.err)
		}
	}
}
