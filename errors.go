package flowmesh

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is; the typed errors below match them too.
var (
	ErrNotFound         = errors.New("flowmesh: not found")
	ErrAlreadyExists    = errors.New("flowmesh: already exists")
	ErrInvalidArgument  = errors.New("flowmesh: invalid argument")
	ErrWrongKind        = errors.New("flowmesh: resource is of another kind")
	ErrRevisionMismatch = errors.New("flowmesh: revision mismatch")
	ErrStaleReceipt     = errors.New("flowmesh: stale receipt")
	ErrLimitExceeded    = errors.New("flowmesh: limit exceeded")
	ErrOffsetOutOfRange = errors.New("flowmesh: offset out of range")
	ErrCompacted        = errors.New("flowmesh: revision compacted")
	ErrNotLeader        = errors.New("flowmesh: not the leader")
	ErrNoLeader         = errors.New("flowmesh: no leader")
	ErrStopped          = errors.New("flowmesh: node stopped")
	ErrTooStale         = errors.New("flowmesh: replica too stale")
	// ErrFailedPrecondition: the cluster is not in a state the call needs
	// (transfer leadership with no other voter, join where no member
	// answers); the message says which. Retrying unchanged will not help.
	ErrFailedPrecondition = errors.New("flowmesh: failed precondition")
)

// FailedPrecondition returns an error matching ErrFailedPrecondition that
// says what is missing.
func FailedPrecondition(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrFailedPrecondition, fmt.Sprintf(format, args...))
}

// InvalidArgumentError names the offending field. It matches ErrInvalidArgument.
type InvalidArgumentError struct {
	Field  string
	Reason string
}

func (e *InvalidArgumentError) Error() string {
	return fmt.Sprintf("flowmesh: invalid %s: %s", e.Field, e.Reason)
}
func (e *InvalidArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

// Invalid returns an *InvalidArgumentError. Its reason is cut to
// MaxErrorReason bytes: quote a caller's input with Quote.
func Invalid(field, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	if len(reason) > MaxErrorReason {
		reason = cut(reason, MaxErrorReason) + "..."
	}
	return &InvalidArgumentError{Field: field, Reason: reason}
}

// LimitError reports an exceeded limit. It matches ErrLimitExceeded.
type LimitError struct {
	What  string
	Limit int64
	Got   int64
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("flowmesh: %s is %d, limit %d", e.What, e.Got, e.Limit)
}
func (e *LimitError) Is(target error) bool { return target == ErrLimitExceeded }

// DiskFullError refuses a write that would grow the data while a node of
// the cluster (Node) has less free space than its reserve on the
// filesystem holding its data dir. It unwraps to a *LimitError (so gRPC
// carries it as ResourceExhausted naming the limit, and the client maps it
// back to a *LimitError) and matches ErrLimitExceeded. Writes that free
// space are still accepted; retrying a refused one at once cannot succeed.
type DiskFullError struct {
	Node    string
	Free    int64 // free bytes the node reported
	Reserve int64 // the node's reserve (--disk-reserve-bytes)
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("flowmesh: disk full: node %s has %d bytes free, below its reserve of %d; writes that free space (deletes, acks, purges, trims) are still accepted", e.Node, e.Free, e.Reserve)
}

// Unwrap returns the limit as a *LimitError: the free bytes (Got) under
// the reserve (Limit, a minimum).
func (e *DiskFullError) Unwrap() error {
	return &LimitError{What: "disk full: free bytes (minimum: reserve) on node " + e.Node, Limit: e.Reserve, Got: e.Free}
}

// OffsetOutOfRangeError reports a read outside a partition's retained range.
// It matches ErrOffsetOutOfRange.
type OffsetOutOfRangeError struct {
	Requested uint64
	Earliest  uint64
	Next      uint64
}

func (e *OffsetOutOfRangeError) Error() string {
	return fmt.Sprintf("flowmesh: offset %d out of range: retained [%d, %d)", e.Requested, e.Earliest, e.Next)
}
func (e *OffsetOutOfRangeError) Is(target error) bool { return target == ErrOffsetOutOfRange }

// CompactedError reports a watch from a revision no longer retained.
// It matches ErrCompacted.
type CompactedError struct {
	Requested uint64
	Oldest    uint64
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("flowmesh: revision %d compacted; oldest retained is %d", e.Requested, e.Oldest)
}
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }

// RevisionMismatchError reports a failed compare-and-swap. It matches ErrRevisionMismatch.
type RevisionMismatchError struct {
	Key      string
	Expected uint64
	Actual   uint64 // 0 when the key does not exist
}

func (e *RevisionMismatchError) Error() string {
	return fmt.Sprintf("flowmesh: key %q is at revision %d, expected %d", e.Key, e.Actual, e.Expected)
}
func (e *RevisionMismatchError) Is(target error) bool { return target == ErrRevisionMismatch }

// NotLeaderError tells a caller where the leader is. It matches ErrNotLeader,
// and ErrNoLeader when no leader is known.
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string // the leader's gRPC address
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "flowmesh: not the leader; no leader known"
	}
	return fmt.Sprintf("flowmesh: not the leader; leader is %s at %s", e.LeaderID, e.LeaderAddr)
}
func (e *NotLeaderError) Is(target error) bool {
	return target == ErrNotLeader || (target == ErrNoLeader && e.LeaderID == "")
}
