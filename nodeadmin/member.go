package nodeadmin

import "errors"

// Member statuses, as gossip sees them.
const (
	StatusAlive   = "alive"
	StatusSuspect = "suspect" // reserved: memberlist does not report suspicion to delegates
	StatusDead    = "dead"
	StatusLeft    = "left"
	// StatusUnknown is a raft server that gossip has not (yet) reported.
	StatusUnknown = "unknown"
)

// Member is one node as gossip and raft see it.
type Member struct {
	ID         string // raft server ID (also the memberlist node name)
	RaftAddr   string
	GRPCAddr   string
	GossipAddr string
	Status     string // StatusAlive, StatusSuspect, StatusDead, StatusLeft or StatusUnknown
	Voter      bool   // a voter in the raft configuration
	InConfig   bool   // in the raft configuration at all
	Leader     bool
	// AppliedIndex is the applied index the node last gossiped (0 when
	// unknown): storage gossips cluster.Cluster.AppliedIndex, which counts the
	// no-ops and barriers raft has dispatched past the FSM's last entry.
	AppliedIndex uint64
	// GossipLeader: the node last gossiped that it is the raft leader (a
	// node that hears nothing from the leader learns of it so).
	GossipLeader bool
	Expect       int // the node's bootstrap-expect value
	Version      string
	HasState     bool   // the node has raft state (it is or was part of a cluster)
	ClusterID    string // the cluster it belongs to, "" while it does not know
	// DiskAlarm: the node's data dir filesystem has less free space than
	// its reserve; DiskFree and DiskReserve are what it reported then (in
	// whole MiB, to keep gossip quiet), zero without an alarm.
	DiskAlarm   bool
	DiskFree    int64
	DiskReserve int64
}

// ErrUnknownServer is returned for a server ID not in the raft configuration.
var ErrUnknownServer = errors.New("cluster: no such server in the raft configuration")
