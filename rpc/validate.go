package rpc

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// Validation at the boundary rejects what is malformed whatever the node's
// state: bad paths and names, negative counts and durations, sizes over the
// limits of limits.go, options out of range. Checks that need state (does
// the partition exist, is the receipt current) are the backend's. Fields are
// named as in the root package's API, in snake case.

// checkPath is flowmesh.ValidatePath (every call takes it; it does not
// allocate for a well-formed path).
func checkPath(path string) error { return flowmesh.ValidatePath(path) }

func checkNames(tenant, namespace, name string) error {
	if err := flowmesh.ValidateName("tenant", tenant); err != nil {
		return err
	}
	if err := flowmesh.ValidateName("namespace", namespace); err != nil {
		return err
	}
	return flowmesh.ValidateName("name", name)
}

func checkPartition(p int32) error {
	if p < 0 {
		return flowmesh.Invalid("partition", "%d is negative", p)
	}
	if p >= flowmesh.MaxPartitions {
		return flowmesh.Invalid("partition", "%d is beyond the %d partitions a stream may have", p, flowmesh.MaxPartitions)
	}
	return nil
}

func checkGroup(g string) error {
	if g == "" {
		return flowmesh.Invalid("group", "must not be empty")
	}
	if len(g) > flowmesh.MaxGroupNameLen {
		return flowmesh.Invalid("group", "is %d bytes, limit %d", len(g), flowmesh.MaxGroupNameLen)
	}
	return nil
}

func checkKey[K string | []byte](field string, k K, allowEmpty bool) error {
	if len(k) == 0 && !allowEmpty {
		return flowmesh.Invalid(field, "must not be empty")
	}
	if len(k) > flowmesh.MaxKeyLength {
		return &flowmesh.LimitError{What: field + " bytes", Limit: flowmesh.MaxKeyLength, Got: int64(len(k))}
	}
	return nil
}

func checkPayload(field string, n int) error {
	if n > flowmesh.MaxPayloadSize {
		return &flowmesh.LimitError{What: field + " bytes", Limit: flowmesh.MaxPayloadSize, Got: int64(n)}
	}
	return nil
}

func checkCount(field string, n int32) error {
	if n < 0 {
		return flowmesh.Invalid(field, "%d is negative", n)
	}
	return nil
}

// duration converts a request duration: unset is 0; invalid, negative or
// above max (when max > 0) is an InvalidArgument.
func duration(field string, d *durationpb.Duration, max time.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, flowmesh.Invalid(field, "%v", err)
	}
	v := d.AsDuration()
	if v < 0 {
		return 0, flowmesh.Invalid(field, "%v is negative", v)
	}
	if max > 0 && v > max {
		return 0, flowmesh.Invalid(field, "%v exceeds the limit %v", v, max)
	}
	return v, nil
}

// callOptions validates p and returns it as one CallOption for the backend.
func callOptions(p *pb.CallOptions) (flowmesh.CallOption, error) {
	o := pbconv.FromCallOptions(p)
	if len(o.RequestID) > flowmesh.MaxRequestIDLen {
		return nil, flowmesh.Invalid("request_id", "is %d bytes, limit %d", len(o.RequestID), flowmesh.MaxRequestIDLen)
	}
	if len(o.ProducerID) > flowmesh.MaxRequestIDLen {
		return nil, flowmesh.Invalid("producer_id", "is %d bytes, limit %d", len(o.ProducerID), flowmesh.MaxRequestIDLen)
	}
	switch o.Consistency {
	case flowmesh.Linearizable, flowmesh.Leader, flowmesh.Stale:
	default:
		return nil, flowmesh.Invalid("consistency", "unknown level %d", o.Consistency)
	}
	var err error
	if o.MaxStaleness, err = duration("max_staleness", p.GetMaxStaleness(), 0); err != nil {
		return nil, err
	}
	return pbconv.CallOption(o), nil
}

// checkEvents enforces the batch limits of WriteEvents.
func checkEvents(evs []*pb.StreamEvent) error {
	if len(evs) == 0 {
		return flowmesh.Invalid("events", "must not be empty")
	}
	if len(evs) > flowmesh.MaxBatchEvents {
		return &flowmesh.LimitError{What: "events per batch", Limit: flowmesh.MaxBatchEvents, Got: int64(len(evs))}
	}
	var total int64
	for _, e := range evs {
		if err := checkPayload("payload", len(e.GetPayload())); err != nil {
			return err
		}
		if err := checkKey("key", e.GetKey(), true); err != nil {
			return err
		}
		if err := checkPartition(e.GetPartition()); err != nil {
			return err
		}
		if n := len(e.GetHeaders()); n > flowmesh.MaxHeaders {
			return &flowmesh.LimitError{What: "headers per event", Limit: flowmesh.MaxHeaders, Got: int64(n)}
		}
		hb := 0
		for k, v := range e.GetHeaders() {
			hb += len(k) + len(v)
		}
		if hb > flowmesh.MaxHeaderBytes {
			return &flowmesh.LimitError{What: "header bytes per event", Limit: flowmesh.MaxHeaderBytes, Got: int64(hb)}
		}
		total += int64(len(e.GetPayload()) + len(e.GetKey()) + hb)
	}
	if total > flowmesh.MaxBatchBytes {
		return &flowmesh.LimitError{What: "batch bytes", Limit: flowmesh.MaxBatchBytes, Got: total}
	}
	return nil
}

func checkReceipt(r *pb.Receipt) error {
	if r.GetJobId() == "" {
		return flowmesh.Invalid("receipt", "job ID must not be empty")
	}
	if r.GetAttempt() < 0 {
		return flowmesh.Invalid("receipt", "attempt %d is negative", r.GetAttempt())
	}
	return nil
}
