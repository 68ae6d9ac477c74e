package client

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc"
)

// TestErrorRoundTrip sends every root error through the server's translation
// (rpc.ToStatus) and back through the client's, as over the wire: the
// sentinel still matches, a typed error comes back with the same fields,
// and the text is the server's.
func TestErrorRoundTrip(t *testing.T) {
	sentinels := []error{
		flowmesh.ErrNotFound, flowmesh.ErrAlreadyExists, flowmesh.ErrInvalidArgument,
		flowmesh.ErrWrongKind, flowmesh.ErrRevisionMismatch, flowmesh.ErrStaleReceipt,
		flowmesh.ErrLimitExceeded, flowmesh.ErrOffsetOutOfRange, flowmesh.ErrCompacted,
		flowmesh.ErrNotLeader, flowmesh.ErrNoLeader, flowmesh.ErrStopped, flowmesh.ErrTooStale,
		flowmesh.ErrFailedPrecondition,
	}
	wantCode := map[error]codes.Code{
		flowmesh.ErrNotFound: codes.NotFound, flowmesh.ErrAlreadyExists: codes.AlreadyExists,
		flowmesh.ErrInvalidArgument: codes.InvalidArgument, flowmesh.ErrWrongKind: codes.FailedPrecondition,
		flowmesh.ErrRevisionMismatch: codes.FailedPrecondition, flowmesh.ErrStaleReceipt: codes.FailedPrecondition,
		flowmesh.ErrLimitExceeded: codes.ResourceExhausted, flowmesh.ErrOffsetOutOfRange: codes.OutOfRange,
		flowmesh.ErrCompacted: codes.OutOfRange, flowmesh.ErrNotLeader: codes.Unavailable,
		flowmesh.ErrNoLeader: codes.Unavailable, flowmesh.ErrStopped: codes.Unavailable,
		flowmesh.ErrTooStale: codes.Unavailable, flowmesh.ErrFailedPrecondition: codes.FailedPrecondition,
	}
	type tc struct {
		name  string
		err   error
		is    error // sentinel the result must match
		typed error // typed error the result must hold, field for field; nil for none
	}
	var tests []tc
	for _, s := range sentinels {
		tests = append(tests,
			tc{"bare " + s.Error(), s, s, nil},
			tc{"wrapped " + s.Error(), fmt.Errorf("stream t/n/s: %w", s), s, nil})
	}
	typed := []struct {
		err error
		is  error
	}{
		{&flowmesh.InvalidArgumentError{Field: "partition", Reason: "-1 is negative"}, flowmesh.ErrInvalidArgument},
		{&flowmesh.LimitError{What: "batch bytes", Limit: flowmesh.MaxBatchBytes, Got: flowmesh.MaxBatchBytes + 1}, flowmesh.ErrLimitExceeded},
		{&flowmesh.OffsetOutOfRangeError{Requested: 1 << 40, Earliest: 3, Next: 9}, flowmesh.ErrOffsetOutOfRange},
		{&flowmesh.CompactedError{Requested: 2, Oldest: 500}, flowmesh.ErrCompacted},
		{&flowmesh.RevisionMismatchError{Key: "k\u00e9\x00", Expected: 4, Actual: 7}, flowmesh.ErrRevisionMismatch},
		{&flowmesh.RevisionMismatchError{Key: "absent", Expected: 4, Actual: 0}, flowmesh.ErrRevisionMismatch},
		{&flowmesh.NotLeaderError{LeaderID: "n2", LeaderAddr: "10.0.0.2:7400"}, flowmesh.ErrNotLeader},
		{&flowmesh.NotLeaderError{}, flowmesh.ErrNoLeader},
	}
	for _, x := range typed {
		tests = append(tests,
			tc{fmt.Sprintf("typed %T %v", x.err, x.err), x.err, x.is, x.err},
			tc{fmt.Sprintf("wrapped typed %T %v", x.err, x.err), fmt.Errorf("op: %w", x.err), x.is, x.err})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := rpc.ToStatus(context.Background(), tt.err)
			if want, ok := wantCode[tt.is]; ok && st.Code() != want {
				t.Errorf("code = %v, want %v", st.Code(), want)
			}
			if detailOf(st) == nil {
				t.Fatalf("status %v has no ErrorDetail", st)
			}
			// Through the wire format of the status, as a client sees it.
			raw, err := status.FromError(st.Err())
			if !err {
				t.Fatal("status.FromError failed")
			}
			got := fromStatus(status.FromProto(raw.Proto()).Err())
			if !errors.Is(got, tt.is) {
				t.Errorf("got %v (%T), want it to match %v", got, got, tt.is)
			}
			if got.Error() != tt.err.Error() {
				t.Errorf("text = %q, want %q", got.Error(), tt.err.Error())
			}
			if tt.typed != nil {
				ptr := reflect.New(reflect.TypeOf(tt.typed))
				if !errors.As(got, ptr.Interface()) {
					t.Fatalf("got %v (%T), want a %T", got, got, tt.typed)
				}
				if g := ptr.Elem().Interface(); !reflect.DeepEqual(g, tt.typed) {
					t.Errorf("typed error = %#v, want %#v", g, tt.typed)
				}
			}
		})
	}
}

func TestErrorContextAndUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		err      error
		wantCode codes.Code
		is       error
	}{
		{"deadline", context.Background(), fmt.Errorf("apply: %w", context.DeadlineExceeded), codes.DeadlineExceeded, context.DeadlineExceeded},
		{"canceled", context.Background(), context.Canceled, codes.Canceled, context.Canceled},
		{"unclassified after cancel", ctx, errors.New("raft: shutdown"), codes.Canceled, context.Canceled},
		{"internal", context.Background(), errors.New("disk on fire"), codes.Internal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := rpc.ToStatus(tt.ctx, tt.err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			got := fromStatus(st.Err())
			if tt.is != nil && !errors.Is(got, tt.is) {
				t.Errorf("got %v, want it to match %v", got, tt.is)
			}
			if tt.is == nil && status.Code(got) != tt.wantCode {
				t.Errorf("got %v, want a %v status error", got, tt.wantCode)
			}
		})
	}
	// A status from another node passes through the server unchanged.
	fwd := status.New(codes.NotFound, "elsewhere").Err()
	if got := rpc.ToStatus(context.Background(), fwd); got.Code() != codes.NotFound || got.Message() != "elsewhere" {
		t.Errorf("forwarded status became %v", got)
	}
}
