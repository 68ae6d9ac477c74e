package cluster

import "github.com/flowmesh/flowmesh/internal/logentry"

// The log entry frame is defined in internal/logentry, shared with the FSM
// that decodes it. These name the parts group commit sizes batches with.

// entryOverhead bounds the frame bytes outside the commands.
const entryOverhead = logentry.Overhead

// commandSize is what a command adds to an encoded entry.
func commandSize(cmd []byte) int { return logentry.CommandSize(cmd) }
