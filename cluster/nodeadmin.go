package cluster

import "github.com/flowmesh/flowmesh/nodeadmin"

// The values this package reports to operators are defined in package
// nodeadmin, a leaf the gRPC server shares without importing this package.
// These names keep them where they are produced.

// Member statuses, as gossip sees them.
const (
	StatusAlive   = nodeadmin.StatusAlive
	StatusSuspect = nodeadmin.StatusSuspect
	StatusDead    = nodeadmin.StatusDead
	StatusLeft    = nodeadmin.StatusLeft
	StatusUnknown = nodeadmin.StatusUnknown
)

// Member is one node as gossip and raft see it.
type Member = nodeadmin.Member

// Readiness states, stable for scripts (the node status carries them).
const (
	ReadyStateReady      = nodeadmin.ReadyStateReady
	ReadyStateShutdown   = nodeadmin.ReadyStateShutdown
	ReadyStateJoining    = nodeadmin.ReadyStateJoining
	ReadyStateRemoved    = nodeadmin.ReadyStateRemoved
	ReadyStateNoLeader   = nodeadmin.ReadyStateNoLeader
	ReadyStateCatchingUp = nodeadmin.ReadyStateCatchingUp
)

// Readiness is whether a node can serve calls with current state, and if
// not why (storage.Storage.Ready decides it).
type Readiness = nodeadmin.Readiness

// Server is a member of the raft configuration.
type Server = nodeadmin.Server

// Status is a point-in-time view of the node (Stats).
type Status = nodeadmin.Status

// RestoreOptions are Restore's parameters.
type RestoreOptions = nodeadmin.RestoreOptions

var (
	// ErrUnknownServer is returned for a server ID not in the raft
	// configuration.
	ErrUnknownServer = nodeadmin.ErrUnknownServer
	// ErrForeignSnapshot is returned by Restore for a snapshot of another
	// cluster, or one that names no cluster, without ForceClusterID.
	ErrForeignSnapshot = nodeadmin.ErrForeignSnapshot
	// ErrRestoreInProgress is returned by Restore while another runs.
	ErrRestoreInProgress = nodeadmin.ErrRestoreInProgress
)
