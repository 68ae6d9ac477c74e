package client

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// Errors from a node come back as the root package's errors: the
// ErrorDetail's code picks the sentinel, its fields fill the typed error
// (*flowmesh.InvalidArgumentError, *LimitError, *OffsetOutOfRangeError,
// *CompactedError, *RevisionMismatchError, *NotLeaderError,
// *SlowConsumerError), and the
// server's message stays the error's text. A status without a detail
// (transport failures, Internal) is returned as the gRPC status error;
// DeadlineExceeded and Canceled match the context package's errors, and
// ResourceExhausted (gRPC's message size limits) matches ErrLimitExceeded.

// remoteError is a node's error: its text is the node's message and it
// unwraps to the root package's error it stands for.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }

// fromStatus maps an error returned by a gRPC call to the root package's.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	if d := detailOf(st); d != nil {
		if e := fromDetail(d); e != nil {
			if d.GetTxnBranch() != "" {
				e = &flowmesh.TxnOpError{Branch: d.GetTxnBranch(), Index: int(d.GetTxnIndex()), Op: d.GetTxnOp(), Err: e}
			}
			if e.Error() == st.Message() {
				return e
			}
			return &remoteError{msg: st.Message(), err: e}
		}
	}
	switch st.Code() {
	case codes.ResourceExhausted:
		// gRPC's own message size limits, on either side.
		return &remoteError{msg: st.Message(), err: flowmesh.ErrLimitExceeded}
	case codes.DeadlineExceeded:
		return &remoteError{msg: st.Message(), err: context.DeadlineExceeded}
	case codes.Canceled:
		return &remoteError{msg: st.Message(), err: context.Canceled}
	}
	return err
}

// detailOf returns st's ErrorDetail, or nil.
func detailOf(st *status.Status) *pb.ErrorDetail {
	for _, d := range st.Details() {
		if ed, ok := d.(*pb.ErrorDetail); ok {
			return ed
		}
	}
	return nil
}

// fromDetail returns the root error d stands for: the typed error when d
// carries its fields, else the sentinel. nil for an unknown code.
func fromDetail(d *pb.ErrorDetail) error {
	switch d.GetCode() {
	case pb.ErrorCode_ERROR_CODE_NOT_FOUND:
		return flowmesh.ErrNotFound
	case pb.ErrorCode_ERROR_CODE_ALREADY_EXISTS:
		return flowmesh.ErrAlreadyExists
	case pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT:
		if d.GetField() != "" || d.GetReason() != "" {
			return &flowmesh.InvalidArgumentError{Field: d.GetField(), Reason: d.GetReason()}
		}
		return flowmesh.ErrInvalidArgument
	case pb.ErrorCode_ERROR_CODE_WRONG_KIND:
		return flowmesh.ErrWrongKind
	case pb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION:
		return flowmesh.ErrFailedPrecondition
	case pb.ErrorCode_ERROR_CODE_REVISION_MISMATCH:
		if len(d.GetKey()) > 0 || d.GetExpectedRevision() != 0 || d.GetActualRevision() != 0 {
			return &flowmesh.RevisionMismatchError{Key: string(d.GetKey()), Expected: d.GetExpectedRevision(), Actual: d.GetActualRevision()}
		}
		return flowmesh.ErrRevisionMismatch
	case pb.ErrorCode_ERROR_CODE_STALE_RECEIPT:
		return flowmesh.ErrStaleReceipt
	case pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED:
		if d.GetRateTenant() != "" {
			return &flowmesh.RateLimitError{Tenant: d.GetRateTenant(), Rate: d.GetRate(), Burst: int(d.GetLimit()),
				RetryAfter: time.Duration(d.GetRetryAfterMs()) * time.Millisecond}
		}
		if d.GetQuota() != "" {
			return &flowmesh.QuotaError{Tenant: d.GetQuotaTenant(), Quota: d.GetQuota(), Limit: d.GetLimit(),
				Using: d.GetQuotaUsing(), Needs: d.GetQuotaNeeds()}
		}
		if d.GetLimitWhat() != "" || d.GetLimit() != 0 || d.GetGot() != 0 {
			return &flowmesh.LimitError{What: d.GetLimitWhat(), Limit: d.GetLimit(), Got: d.GetGot()}
		}
		return flowmesh.ErrLimitExceeded
	case pb.ErrorCode_ERROR_CODE_SLOW_CONSUMER:
		return &flowmesh.SlowConsumerError{Stream: strings.TrimPrefix(d.GetLimitWhat(), "slow "), ResumeFrom: d.GetResumeFrom(),
			Timeout: time.Duration(d.GetLimit()) * time.Millisecond}
	case pb.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE:
		if d.GetRequested() != 0 || d.GetEarliestOffset() != 0 || d.GetNextOffset() != 0 {
			return &flowmesh.OffsetOutOfRangeError{Requested: d.GetRequested(), Earliest: d.GetEarliestOffset(), Next: d.GetNextOffset()}
		}
		return flowmesh.ErrOffsetOutOfRange
	case pb.ErrorCode_ERROR_CODE_COMPACTED:
		if d.GetRequested() != 0 || d.GetOldestRevision() != 0 {
			return &flowmesh.CompactedError{Requested: d.GetRequested(), Oldest: d.GetOldestRevision()}
		}
		return flowmesh.ErrCompacted
	case pb.ErrorCode_ERROR_CODE_NOT_LEADER:
		// Matches ErrNotLeader, and ErrNoLeader when no leader is named.
		return &flowmesh.NotLeaderError{LeaderID: d.GetLeaderId(), LeaderAddr: d.GetLeaderAddr()}
	case pb.ErrorCode_ERROR_CODE_NO_LEADER:
		return flowmesh.ErrNoLeader
	case pb.ErrorCode_ERROR_CODE_STOPPED:
		return flowmesh.ErrStopped
	case pb.ErrorCode_ERROR_CODE_TOO_STALE:
		return flowmesh.ErrTooStale
	}
	return nil
}
