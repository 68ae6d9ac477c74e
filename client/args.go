package client

import (
	"math"

	"github.com/flowmesh/flowmesh"
)

// Arguments are checked before they are sent, with the root package's
// check of the operation (flowmesh.ValidatePut, ...): the same check the
// node runs, so a mistake gets the same error from the client as from the
// embedded node or the server, and never reaches the wire (a string that
// is not UTF-8 could not be encoded; an int beyond int32 could not be
// carried). What needs the node's state is the node's to judge.

func checkPath(path string) error { return flowmesh.ValidatePath(path) }

// checkCallOptions is flowmesh.ValidateCallOptions over opts.
func checkCallOptions(opts []flowmesh.CallOption) error {
	return flowmesh.ValidateCallOptions(flowmesh.ApplyCallOptions(opts))
}

// clamp32 converts an "up to n" count; beyond int32 means the same as MaxInt32.
func clamp32(v int) int32 {
	return int32(max(min(v, math.MaxInt32), math.MinInt32))
}
