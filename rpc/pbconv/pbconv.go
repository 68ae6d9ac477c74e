// Package pbconv converts between the root package's value types and their
// flowmesh.v1 protobuf messages. The server (package rpc) and the client
// (package client) share it, so both sides agree on every field.
//
// Conversions here are total: they never fail and never validate. Validation
// of what arrives over the network is the server's job (package rpc); the
// only lossy step is int -> int32, which callers range-check first.
package pbconv

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// Duration returns d as a protobuf Duration; 0 becomes nil (unset).
func Duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// FromDuration returns d as a time.Duration; nil is 0. Out-of-range values
// saturate (see durationpb.Duration.AsDuration).
func FromDuration(d *durationpb.Duration) time.Duration {
	if d == nil {
		return 0
	}
	return d.AsDuration()
}

// Time returns t as a protobuf Timestamp; the zero time becomes nil.
func Time(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// FromTime returns ts as a time.Time in UTC; nil is the zero time.
func FromTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// CallOptions converts the per-call options; the zero value becomes nil.
func CallOptions(o flowmesh.CallOptions) *pb.CallOptions {
	if o == (flowmesh.CallOptions{}) {
		return nil
	}
	return &pb.CallOptions{
		RequestId:    o.RequestID,
		ProducerId:   o.ProducerID,
		ProducerSeq:  o.ProducerSeq,
		Consistency:  pb.Consistency(o.Consistency),
		MaxStaleness: Duration(o.MaxStaleness),
	}
}

// FromCallOptions converts p back; nil is the zero value.
func FromCallOptions(p *pb.CallOptions) flowmesh.CallOptions {
	if p == nil {
		return flowmesh.CallOptions{}
	}
	return flowmesh.CallOptions{
		RequestID:    p.GetRequestId(),
		ProducerID:   p.GetProducerId(),
		ProducerSeq:  p.GetProducerSeq(),
		Consistency:  flowmesh.Consistency(p.GetConsistency()),
		MaxStaleness: FromDuration(p.GetMaxStaleness()),
	}
}

// CallOption returns a flowmesh.CallOption that sets every option to o.
func CallOption(o flowmesh.CallOptions) flowmesh.CallOption {
	return func(dst *flowmesh.CallOptions) { *dst = o }
}
