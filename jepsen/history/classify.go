package history

import (
	"context"
	"errors"

	"github.com/flowmesh/flowmesh"
)

// NotProposed is implemented by errors that know the request was refused
// before it was proposed to Raft, so it cannot take effect later. Classify
// finds it with errors.As. The SDK does not mark errors so today; a node
// that does (e.g. a follower refusing instead of forwarding) makes such
// refusals Fail instead of Info.
type NotProposed interface {
	NotProposed() bool
}

// Classify is the outcome of an op of function f that ended with err:
// OK for nil, otherwise Fail when err proves the op changed nothing and
// Info when it may have taken effect, now or later.
//
// The rule, in order:
//
//   - A read (f.IsRead) that failed is Fail whatever the error: it changes
//     nothing, and a read with no answer tells nothing.
//   - An error marked NotProposed (see the interface) is Fail.
//   - A context deadline or cancellation is Info: the request may be in a
//     leader's log.
//   - ErrInvalidArgument, ErrWrongKind, ErrLimitExceeded: refused by
//     validation before proposing. ErrNotFound, ErrRevisionMismatch,
//     ErrStaleReceipt, ErrOffsetOutOfRange, ErrCompacted: the command was
//     applied and the state machine refused it, which changes nothing. All Fail.
//     (The SDK retries a write with the same request ID and the FSM answers
//     a repeat with the first result, so a refusal is never the echo of an
//     earlier attempt that succeeded — as long as the retries stay within
//     the dedup window, which the runner's timeouts keep them well inside.)
//   - Everything else is Info: ErrNotLeader and ErrNoLeader (a leader that
//     loses leadership with the command in flight answers NotLeader too, and
//     the SDK's retries mean an earlier attempt may have been proposed
//     anywhere), ErrStopped, ErrTooStale, ErrAlreadyExists (a create retried
//     after NotLeader may have created it), gRPC Unavailable and transport
//     errors, Internal, and any error this table does not know.
func Classify(f F, err error) Type {
	if err == nil {
		return OK
	}
	if f.IsRead() {
		return Fail
	}
	var np NotProposed
	if errors.As(err, &np) && np.NotProposed() {
		return Fail
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Info
	}
	for _, definite := range []error{
		flowmesh.ErrInvalidArgument,
		flowmesh.ErrWrongKind,
		flowmesh.ErrLimitExceeded,
		flowmesh.ErrNotFound,
		flowmesh.ErrRevisionMismatch,
		flowmesh.ErrStaleReceipt,
		flowmesh.ErrOffsetOutOfRange,
		flowmesh.ErrCompacted,
	} {
		if errors.Is(err, definite) {
			return Fail
		}
	}
	return Info
}
