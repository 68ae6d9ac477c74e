package client

// gRPC metadata keys the client shares with the node (package rpc, which
// the client does not import: it would pull in the server's dependencies).
const (
	// mdDirect asks a follower not to forward the call to the leader but to
	// answer NotLeader with the leader's address.
	mdDirect = "flowmesh-direct"
	// mdLeader is the response header of a forwarded call: the leader's
	// gRPC address.
	mdLeader = "flowmesh-leader"
	// mdStartRevision is Watch's response header: the revision it starts at.
	mdStartRevision = "flowmesh-start-revision"
)
