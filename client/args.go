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

func checkPath(path string) error {
	_, _, _, err := flowmesh.ParsePath(path)
	return err
}

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

func checkEvents(evs []flowmesh.StreamEvent) error {
	for _, e := range evs {
		if _, err := int32Of("partition", e.Partition); err != nil {
			return err
		}
		for k, v := range e.Headers {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				return flowmesh.Invalid("headers", "header %q is not valid UTF-8", k)
			}
		}
	}
	return nil
}
