package client

import (
	"math"
	"unicode/utf8"

	"github.com/flowmesh/flowmesh"
)

// Arguments are checked before they are sent where the wire could not carry
// them (ints beyond int32, strings that are not UTF-8) and where the node's
// answer is known without asking (malformed paths). Everything else is the
// node's to judge, so the embedded and the remote API agree.

func checkPath(path string) error { return flowmesh.ValidatePath(path) }

// int32Of converts an int argument that must fit the wire's int32.
func int32Of(field string, v int) (int32, error) {
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, flowmesh.Invalid(field, "%d is out of range", v)
	}
	return int32(v), nil
}

// clamp32 converts an "up to n" count; beyond int32 means the same as MaxInt32.
func clamp32(v int) int32 {
	return int32(max(min(v, math.MaxInt32), math.MinInt32))
}

func checkUTF8(field, s string) error {
	if !utf8.ValidString(s) {
		return flowmesh.Invalid(field, "is not valid UTF-8")
	}
	return nil
}

func checkCallOptions(opts []flowmesh.CallOption) error {
	o := flowmesh.ApplyCallOptions(opts)
	if err := checkUTF8("request_id", o.RequestID); err != nil {
		return err
	}
	return checkUTF8("producer_id", o.ProducerID)
}

// checkEvents checks what the wire needs and, early, the size limits a
// batch too large for one request would otherwise hit in gRPC's transport
// (with a less precise error); the node checks everything again.
func checkEvents(evs []flowmesh.StreamEvent) error {
	if len(evs) > flowmesh.MaxBatchEvents {
		return &flowmesh.LimitError{What: "events per batch", Limit: flowmesh.MaxBatchEvents, Got: int64(len(evs))}
	}
	var total int64
	for _, e := range evs {
		if _, err := int32Of("partition", e.Partition); err != nil {
			return err
		}
		if err := checkPayload("payload", len(e.Payload)); err != nil {
			return err
		}
		total += int64(len(e.Payload) + len(e.Key))
		for k, v := range e.Headers {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return flowmesh.Invalid("headers", "header %q is not valid UTF-8", k)
			}
			total += int64(len(k) + len(v))
		}
	}
	if total > flowmesh.MaxBatchBytes {
		return &flowmesh.LimitError{What: "batch bytes", Limit: flowmesh.MaxBatchBytes, Got: total}
	}
	return nil
}

func checkPayload(what string, n int) error {
	if n > flowmesh.MaxPayloadSize {
		return &flowmesh.LimitError{What: what + " bytes", Limit: flowmesh.MaxPayloadSize, Got: int64(n)}
	}
	return nil
}
