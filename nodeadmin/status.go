package nodeadmin

// Server is a member of the raft configuration.
type Server struct {
	ID      string
	Address string
	Voter   bool
}

// Status is a point-in-time view of the node.
type Status struct {
	ID                string
	State             string // "leader", "follower", "candidate" or "shutdown"
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64 // by the FSM
	LastLogIndex      uint64
	LastSnapshotIndex uint64
	ClusterID         string // "" while unknown (cluster/clusterid.go)
	LeaderID          string
	LeaderAddr        string
	Servers           []Server
}
