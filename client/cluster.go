package client

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// NodeStatus is a node's view of itself and of the leader.
type NodeStatus struct {
	NodeID            string
	Role              string // "leader", "follower", "candidate", "shutdown" or ""
	Term              uint64
	CommitIndex       uint64
	AppliedIndex      uint64
	Lag               uint64 // CommitIndex - AppliedIndex
	Health            string // "healthy", "no-leader", "removed", "catching-up", "joining", "lagging" or "shutdown"
	LastLogIndex      uint64
	LastSnapshotIndex uint64
	LeaderID          string // "" when the node knows no leader
	LeaderGRPCAddr    string
	GRPCAddr          string
	Version           string
	ClusterID         string // "" while the node does not know its cluster
	// DiskFreeBytes and DiskReserveBytes: the node's data dir filesystem
	// against its reserve. Alarms lists raised alarms ("NOSPACE: ..."
	// while a node of the cluster is short of disk and writes that grow
	// the data are refused).
	DiskFreeBytes    int64
	DiskReserveBytes int64
	Alarms           []string
	// Ready is whether the node is ready, as its /readyz decides: a leader
	// in contact, the node in the raft configuration and applied up to the
	// leader's index. Readiness is the state ("ready", "catching-up",
	// "removed", "no-leader", "joining", "shutdown"; "" from an older
	// node), NotReadyReason why not, Behind the entries left to apply
	// while catching up, and AwaitingReadd that the node is (or seems to
	// be) out of the configuration while alive in gossip, where the leader
	// adds it back about a minute after a remove-peer.
	Ready          bool
	Readiness      string
	NotReadyReason string
	Behind         uint64
	AwaitingReadd  bool
}

// Member is a cluster node as memberlist and the raft configuration see it.
type Member struct {
	ID           string
	RaftAddr     string
	GRPCAddr     string
	GossipAddr   string
	Status       string // "alive", "suspect", "dead", "left" or "unknown"
	Voter        bool
	InConfig     bool // in the raft configuration
	Leader       bool
	AppliedIndex uint64
	Version      string
	ClusterID    string // as the node gossips it; "" while unknown
	DiskAlarm    bool   // the node gossips that its free disk is below its reserve
}

// SnapshotInfo describes a raft snapshot stream.
type SnapshotInfo struct {
	ID      string `json:"id"`
	Index   uint64 `json:"index"`
	Term    uint64 `json:"term"`
	Size    int64  `json:"size"` // bytes of the stream
	Version int    `json:"version"`
}

// Status returns the status of the node the client currently talks to.
func (c *Client) Status(ctx context.Context) (NodeStatus, error) {
	var resp *pb.StatusResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterServiceClient(cc).Status(ctx, &pb.StatusRequest{})
		return err
	})
	if err != nil {
		return NodeStatus{}, err
	}
	return statusOf(resp.GetStatus()), nil
}

// StatusOf returns the status of the node at addr (a gRPC address), asked
// once, without retries or redirects.
func (c *Client) StatusOf(ctx context.Context, addr string) (NodeStatus, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return NodeStatus{}, err
	}
	resp, err := pb.NewClusterServiceClient(cc).Status(ctx, &pb.StatusRequest{})
	if err != nil {
		return NodeStatus{}, fromStatus(err)
	}
	return statusOf(resp.GetStatus()), nil
}

// StateHashOf asks the node at addr for a digest of its logical state and
// the raft index it covers; replicas at the same index have the same hash.
func (c *Client) StateHashOf(ctx context.Context, addr string) (hash string, appliedIndex uint64, err error) {
	cc, err := c.conn(addr)
	if err != nil {
		return "", 0, err
	}
	resp, err := pb.NewClusterServiceClient(cc).StateHash(ctx, &pb.StateHashRequest{})
	if err != nil {
		return "", 0, fromStatus(err)
	}
	return resp.GetHash(), resp.GetAppliedIndex(), nil
}

func statusOf(s *pb.NodeStatus) NodeStatus {
	return NodeStatus{
		NodeID:            s.GetNodeId(),
		Role:              roleNames[s.GetRole()],
		Term:              s.GetTerm(),
		CommitIndex:       s.GetCommitIndex(),
		AppliedIndex:      s.GetAppliedIndex(),
		Lag:               s.GetLag(),
		Health:            s.GetHealth(),
		LastLogIndex:      s.GetLastLogIndex(),
		LastSnapshotIndex: s.GetLastSnapshotIndex(),
		LeaderID:          s.GetLeaderId(),
		LeaderGRPCAddr:    s.GetLeaderGrpcAddr(),
		GRPCAddr:          s.GetGrpcAddr(),
		Version:           s.GetVersion(),
		ClusterID:         s.GetClusterId(),
		DiskFreeBytes:     s.GetDiskFreeBytes(),
		DiskReserveBytes:  s.GetDiskReserveBytes(),
		Alarms:            s.GetAlarms(),
		Ready:             s.GetReady(),
		Readiness:         s.GetReadiness(),
		NotReadyReason:    s.GetNotReadyReason(),
		Behind:            s.GetBehind(),
		AwaitingReadd:     s.GetAwaitingReadd(),
	}
}

var roleNames = map[pb.Role]string{
	pb.Role_ROLE_FOLLOWER:  "follower",
	pb.Role_ROLE_CANDIDATE: "candidate",
	pb.Role_ROLE_LEADER:    "leader",
	pb.Role_ROLE_SHUTDOWN:  "shutdown",
}

// Members lists the cluster's nodes as the node the client talks to sees them.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var resp *pb.MembersResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterServiceClient(cc).Members(ctx, &pb.MembersRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(resp.GetMembers()))
	for _, m := range resp.GetMembers() {
		out = append(out, Member{
			ID: m.GetId(), RaftAddr: m.GetRaftAddr(), GRPCAddr: m.GetGrpcAddr(), GossipAddr: m.GetGossipAddr(),
			Status: m.GetStatus(), Voter: m.GetVoter(), InConfig: m.GetInConfig(), Leader: m.GetLeader(),
			AppliedIndex: m.GetAppliedIndex(), Version: m.GetVersion(), ClusterID: m.GetClusterId(),
			DiskAlarm: m.GetDiskAlarm(),
		})
	}
	return out, nil
}

// Join asks the node the client talks to to join the cluster of the nodes
// at addrs (gossip addresses); it returns how many answered.
func (c *Client) Join(ctx context.Context, addrs ...string) (int, error) {
	var resp *pb.JoinResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterServiceClient(cc).Join(ctx, &pb.JoinRequest{Addrs: addrs})
		return err
	})
	return int(resp.GetJoined()), err
}

// Leave takes node nodeID ("" = the node the client talks to) out of the
// cluster gracefully; that node then stops.
func (c *Client) Leave(ctx context.Context, nodeID string) error {
	return c.invoke(ctx, unsafe, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewClusterServiceClient(cc).Leave(ctx, &pb.LeaveRequest{NodeId: nodeID})
		return err
	})
}

// RemovePeer removes server nodeID from the raft configuration (a dead
// node's, say). An ID not in the configuration is ErrNotFound (also when a
// retry finds the first attempt succeeded).
func (c *Client) RemovePeer(ctx context.Context, nodeID string) error {
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewClusterServiceClient(cc).RemovePeer(ctx, &pb.RemovePeerRequest{NodeId: nodeID})
		return err
	})
}

// TransferLeader hands leadership to voter nodeID ("" = any).
func (c *Client) TransferLeader(ctx context.Context, nodeID string) error {
	return c.invoke(ctx, unsafe, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewClusterServiceClient(cc).TransferLeader(ctx, &pb.TransferLeaderRequest{NodeId: nodeID})
		return err
	})
}

// SnapshotSave has the leader take a snapshot and writes its stream to w.
// It is not retried: a failure may leave part of the stream in w.
func (c *Client) SnapshotSave(ctx context.Context, w io.Writer) (SnapshotInfo, error) {
	_, cc, err := c.pick()
	if err != nil {
		return SnapshotInfo{}, err
	}
	s, err := pb.NewClusterServiceClient(cc).SnapshotSave(ctx, &pb.SnapshotSaveRequest{})
	if err != nil {
		return SnapshotInfo{}, fromStatus(err)
	}
	var info SnapshotInfo
	var n int64
	for {
		msg, err := s.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return info, fromStatus(err)
		}
		if i := msg.GetInfo(); i != nil {
			info = SnapshotInfo{ID: i.GetId(), Index: i.GetIndex(), Term: i.GetTerm(), Size: i.GetSize(), Version: int(i.GetVersion())}
		}
		m, err := w.Write(msg.GetData())
		n += int64(m)
		if err != nil {
			return info, err
		}
	}
	if n != info.Size {
		return info, flowmesh.Invalid("snapshot", "received %d bytes of %d", n, info.Size)
	}
	return info, nil
}

// SnapshotRestoreOption configures SnapshotRestore.
type SnapshotRestoreOption func(*snapshotRestoreOptions)

type snapshotRestoreOptions struct{ forceClusterID bool }

// ForceClusterID lets SnapshotRestore replace the state with a snapshot of
// another cluster, or one that names no cluster (saved before snapshots
// carried their cluster ID). Without it the node refuses those with
// FailedPrecondition.
func ForceClusterID() SnapshotRestoreOption {
	return func(o *snapshotRestoreOptions) { o.forceClusterID = true }
}

// SnapshotRestore uploads a snapshot stream of info.Size bytes from r and
// has the leader restore it: the whole cluster's state is replaced. The
// leader verifies the whole snapshot first; a malformed or corrupt one is
// an error matching flowmesh.ErrInvalidArgument and changes nothing.
func (c *Client) SnapshotRestore(ctx context.Context, info SnapshotInfo, r io.Reader, opts ...SnapshotRestoreOption) error {
	var o snapshotRestoreOptions
	for _, opt := range opts {
		opt(&o)
	}
	_, cc, err := c.pick()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := pb.NewClusterServiceClient(cc).SnapshotRestore(ctx)
	if err != nil {
		return fromStatus(err)
	}
	pi := &pb.SnapshotInfo{Id: info.ID, Index: info.Index, Term: info.Term, Size: info.Size, Version: int32(info.Version)}
	buf := make([]byte, 1<<20)
	for first := true; ; first = false {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || first {
			msg := &pb.SnapshotRestoreRequest{Data: buf[:n]}
			if first {
				msg.Info = pi
				msg.ForceClusterId = o.forceClusterID
			}
			if err := s.Send(msg); err != nil {
				break // the node's answer comes from CloseAndRecv
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if _, err := s.CloseAndRecv(); err != nil {
		return fromStatus(err)
	}
	return nil
}
