package rpc

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// This file is the one place where errors become gRPC statuses. Every status
// the server returns for a root-package error carries a *pb.ErrorDetail, and
// package client maps that detail (never the message) back to the same
// sentinel or typed error.
//
//	ErrNotFound                              NotFound
//	ErrAlreadyExists                         AlreadyExists
//	ErrInvalidArgument, *InvalidArgumentError InvalidArgument (field, reason)
//	ErrWrongKind, ErrStaleReceipt,
//	ErrRevisionMismatch, *RevisionMismatchError FailedPrecondition
//	ErrLimitExceeded, *LimitError            ResourceExhausted (what, limit, got)
//	*QuotaError                              ResourceExhausted (tenant, quota, limit, using, needs;
//	                                         tenant "*" for the cluster-wide memory quota)
//	*RateLimitError                          ResourceExhausted (tenant, retry after)
//	*SlowConsumerError                       ResourceExhausted (SLOW_CONSUMER: resume from)
//	ErrOffsetOutOfRange, ErrCompacted (typed) OutOfRange (range / oldest revision)
//	ErrNotLeader, *NotLeaderError            Unavailable (leader id and gRPC address)
//	ErrNoLeader, ErrStopped, ErrTooStale     Unavailable
//	context.DeadlineExceeded / Canceled      DeadlineExceeded / Canceled
//	anything else                            Internal
//
// An error from a transaction's compare or op (*flowmesh.TxnOpError) takes
// the code and detail of its cause, plus txn_branch, txn_index and txn_op
// naming it; the client wraps the mapped error in a *TxnOpError again.
//
// Clients retry ErrNotLeader and ErrNoLeader even for calls without a
// request ID; see doc.go for when that is exact.

// ToStatus translates err into a gRPC status with an ErrorDetail. An error that
// already is a gRPC status (say, from a node this one forwarded to) passes
// through unchanged. ctx is the call's context: an unclassified error after ctx
// ended is reported as the context's error.
func ToStatus(ctx context.Context, err error) *status.Status {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok {
		return s
	}
	code, d := classify(err)
	withTxnDetail(err, d)
	if code == codes.Internal && ctx != nil && ctx.Err() != nil {
		code, d = classify(ctx.Err())
	}
	s := status.New(code, err.Error())
	if d == nil {
		return s
	}
	if ws, werr := s.WithDetails(d); werr == nil {
		return ws
	}
	return s
}

// statusError is ToStatus as an error, for returning from handlers.
func statusError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	return ToStatus(ctx, err).Err()
}

// classify picks the code and detail for err; typed errors first, so their
// data reaches the client, then the sentinels they match.
func classify(err error) (codes.Code, *pb.ErrorDetail) {
	var (
		inv  *flowmesh.InvalidArgumentError
		lim  *flowmesh.LimitError
		quo  *flowmesh.QuotaError
		rate *flowmesh.RateLimitError
		slow *flowmesh.SlowConsumerError
		oor  *flowmesh.OffsetOutOfRangeError
		cmp  *flowmesh.CompactedError
		rev  *flowmesh.RevisionMismatchError
		notL *flowmesh.NotLeaderError
	)
	switch {
	case errors.As(err, &inv):
		return codes.InvalidArgument, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT, Field: inv.Field, Reason: inv.Reason}
	case errors.As(err, &quo):
		what := "tenant " + quo.Tenant + " quota " + quo.Quota
		if quo.Tenant == flowmesh.DefaultQuotaTenant {
			what = "cluster-wide quota " + quo.Quota
		}
		return codes.ResourceExhausted, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED,
			LimitWhat: what, Limit: quo.Limit, Got: quo.Using + quo.Needs,
			QuotaTenant: quo.Tenant, Quota: quo.Quota, QuotaUsing: quo.Using, QuotaNeeds: quo.Needs}
	case errors.As(err, &rate):
		return codes.ResourceExhausted, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED,
			LimitWhat: "tenant " + rate.Tenant + " request rate", Limit: int64(rate.Burst),
			RateTenant: rate.Tenant, Rate: rate.Rate, RetryAfterMs: max(1, rate.RetryAfter.Milliseconds())}
	case errors.As(err, &slow):
		return codes.ResourceExhausted, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_SLOW_CONSUMER,
			LimitWhat: "slow " + slow.Stream, Limit: slow.Timeout.Milliseconds(), ResumeFrom: slow.ResumeFrom}
	case errors.As(err, &lim):
		return codes.ResourceExhausted, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED, LimitWhat: lim.What, Limit: lim.Limit, Got: lim.Got}
	case errors.As(err, &oor):
		return codes.OutOfRange, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE, Requested: oor.Requested, EarliestOffset: oor.Earliest, NextOffset: oor.Next}
	case errors.As(err, &cmp):
		return codes.OutOfRange, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_COMPACTED, Requested: cmp.Requested, OldestRevision: cmp.Oldest}
	case errors.As(err, &rev):
		return codes.FailedPrecondition, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_REVISION_MISMATCH, Key: strings.ToValidUTF8(rev.Key, "\uFFFD"), ExpectedRevision: rev.Expected, ActualRevision: rev.Actual}
	case errors.As(err, &notL):
		return codes.Unavailable, &pb.ErrorDetail{Code: pb.ErrorCode_ERROR_CODE_NOT_LEADER, LeaderId: notL.LeaderID, LeaderAddr: notL.LeaderAddr}
	}
	for _, m := range sentinels {
		if errors.Is(err, m.err) {
			return m.code, &pb.ErrorDetail{Code: m.detail}
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded, nil
	case errors.Is(err, context.Canceled):
		return codes.Canceled, nil
	}
	return codes.Internal, nil
}

// sentinels is searched in order; an error matching several takes the first.
var sentinels = []struct {
	err    error
	code   codes.Code
	detail pb.ErrorCode
}{
	{flowmesh.ErrNotFound, codes.NotFound, pb.ErrorCode_ERROR_CODE_NOT_FOUND},
	{flowmesh.ErrAlreadyExists, codes.AlreadyExists, pb.ErrorCode_ERROR_CODE_ALREADY_EXISTS},
	{flowmesh.ErrInvalidArgument, codes.InvalidArgument, pb.ErrorCode_ERROR_CODE_INVALID_ARGUMENT},
	{flowmesh.ErrWrongKind, codes.FailedPrecondition, pb.ErrorCode_ERROR_CODE_WRONG_KIND},
	{flowmesh.ErrFailedPrecondition, codes.FailedPrecondition, pb.ErrorCode_ERROR_CODE_FAILED_PRECONDITION},
	{flowmesh.ErrRevisionMismatch, codes.FailedPrecondition, pb.ErrorCode_ERROR_CODE_REVISION_MISMATCH},
	{flowmesh.ErrStaleReceipt, codes.FailedPrecondition, pb.ErrorCode_ERROR_CODE_STALE_RECEIPT},
	{flowmesh.ErrLimitExceeded, codes.ResourceExhausted, pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED},
	{flowmesh.ErrOffsetOutOfRange, codes.OutOfRange, pb.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE},
	{flowmesh.ErrCompacted, codes.OutOfRange, pb.ErrorCode_ERROR_CODE_COMPACTED},
	{flowmesh.ErrNotLeader, codes.Unavailable, pb.ErrorCode_ERROR_CODE_NOT_LEADER},
	{flowmesh.ErrNoLeader, codes.Unavailable, pb.ErrorCode_ERROR_CODE_NO_LEADER},
	{flowmesh.ErrStopped, codes.Unavailable, pb.ErrorCode_ERROR_CODE_STOPPED},
	{flowmesh.ErrTooStale, codes.Unavailable, pb.ErrorCode_ERROR_CODE_TOO_STALE},
}
