package rpc

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// Handlers check a request with the root package's check of its operation
// (flowmesh.ValidatePath, flowmesh.ValidatePut, ...) over the arguments as
// the API takes them, the same check the embedded node and the client
// run, so a mistake gets the same error wherever it is caught. What is
// left here is the wire's own: durations that do not convert, and the
// wait of one long poll (MaxReservePoll), which only the server bounds.
// Checks that need state (does the partition exist, is the receipt
// current) are the node's.

// checkPath is flowmesh.ValidatePath (every call takes it; it does not
// allocate for a well-formed path).
func checkPath(path string) error { return flowmesh.ValidatePath(path) }

// duration converts a request duration: unset is 0, one that does not
// convert is an InvalidArgument. Its range is the operation's check.
func duration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, flowmesh.Invalid(field, "%v", err)
	}
	return d.AsDuration(), nil
}

// pollWait converts a Reserve's wait: flowmesh.ValidateReserveWait, and at
// most MaxReservePoll, the longest a node holds one call (the client
// polls again for longer waits).
func pollWait(d *durationpb.Duration) (time.Duration, error) {
	wait, err := duration("wait", d)
	if err != nil {
		return 0, err
	}
	if err := flowmesh.ValidateReserveWait(wait); err != nil {
		return 0, err
	}
	if wait > flowmesh.MaxReservePoll {
		return 0, flowmesh.Invalid("wait", "%v exceeds %v, the longest one call waits; poll again", wait, flowmesh.MaxReservePoll)
	}
	return wait, nil
}

// callOptions validates p and returns it as one CallOption for the node.
func callOptions(p *pb.CallOptions) (flowmesh.CallOption, error) {
	o := pbconv.FromCallOptions(p)
	var err error
	if o.MaxStaleness, err = duration("max_staleness", p.GetMaxStaleness()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateCallOptions(o); err != nil {
		return nil, err
	}
	return pbconv.CallOption(o), nil
}
