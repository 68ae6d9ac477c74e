package fsm

import "github.com/flowmesh/flowmesh/cluster"

// The FSM is what package cluster drives. The check lives in a test so the
// FSM itself does not import cluster: the two share only the log entry frame
// (internal/logentry).
var _ cluster.FSM = (*FSM)(nil)
