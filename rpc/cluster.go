package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/nodeadmin"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// ClusterAdmin is the part of Node that ClusterService's membership,
// state-hash and snapshot calls use: operations of the node, in the values
// of package nodeadmin. The server knows raft only through these.
type ClusterAdmin interface {
	// ID is this node's server ID ("" once it stopped).
	ID() string
	Members() []nodeadmin.Member
	IsLeader() bool
	LeaderGRPC() (id, addr string)
	Join(ctx context.Context, addrs []string) (int, error)
	Leave(ctx context.Context) error
	RemovePeer(ctx context.Context, id string) error
	TransferLeadership(ctx context.Context, id string) error
	StateHashIndex() (string, uint64, error)
	// SaveSnapshot takes a snapshot on the leader (or, with nothing new
	// since the last one, uses that) and opens its stream; the caller
	// closes it. Elsewhere a *flowmesh.NotLeaderError.
	SaveSnapshot(ctx context.Context) (nodeadmin.SnapshotMeta, io.ReadCloser, error)
	// RestoreSnapshot restores a snapshot stream through raft on the
	// leader. Elsewhere a *flowmesh.NotLeaderError.
	RestoreSnapshot(ctx context.Context, r io.Reader, opts nodeadmin.RestoreOptions) error
}

// statusReadyWait bounds how long Status waits for the node to apply the
// index readiness needs (/readyz waits up to storage.ReadyWait): clients
// ask any node's Status to find the leader.
const statusReadyWait = 250 * time.Millisecond

// LagThreshold is the lag (commit - applied index) above which a node
// reports itself "lagging".
const LagThreshold = 1000

// snapshotChunk is the size of the data in one snapshot stream message.
const snapshotChunk = 1 << 20

type clusterService struct {
	pb.UnimplementedClusterServiceServer
	s *Server
}

func (h *clusterService) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st, err := h.s.status(ctx)
	if err != nil {
		return nil, err
	}
	var lag uint64
	if st.CommitIndex > st.AppliedIndex {
		lag = st.CommitIndex - st.AppliedIndex
	}
	return &pb.StatusResponse{Status: &pb.NodeStatus{
		NodeId:            st.NodeID,
		Role:              roleToPB[st.Role],
		Term:              st.Term,
		CommitIndex:       st.CommitIndex,
		AppliedIndex:      st.AppliedIndex,
		LeaderId:          st.LeaderID,
		LeaderGrpcAddr:    st.LeaderGRPCAddr,
		GrpcAddr:          st.GRPCAddr,
		Version:           st.Version,
		Lag:               lag,
		Health:            healthOf(st, lag),
		LastLogIndex:      st.LastLogIndex,
		LastSnapshotIndex: st.LastSnapshotIndex,
		ClusterId:         st.ClusterID,
		DiskFreeBytes:     st.DiskFreeBytes,
		DiskReserveBytes:  st.DiskReserveBytes,
		Alarms:            st.Alarms,
		Ready:             st.Readiness.Ready,
		Readiness:         st.Readiness.State,
		NotReadyReason:    st.Readiness.Reason,
		Behind:            st.Readiness.Behind(),
		AwaitingReadd:     st.Readiness.AwaitingReadd,
	}}, nil
}

// healthOf summarises a node's status: "shutdown"; the readiness state
// when the node is not ready ("removed", "joining", "catching-up" or
// "no-leader": it cannot serve linearizable calls); "lagging" (its stale
// reads are far behind) or "healthy". An empty status (no role) is
// "healthy" for an embedded node.
func healthOf(st NodeStatus, lag uint64) string {
	rd := st.Readiness
	switch {
	case rd.State != "" && !rd.Ready:
		return rd.State // "shutdown" among them
	case st.Role == RoleShutdown:
		return "shutdown"
	case st.Role != "" && st.LeaderID == "":
		return "no-leader"
	case lag > LagThreshold:
		return "lagging"
	}
	return "healthy"
}

func (h *clusterService) StateHash(ctx context.Context, _ *pb.StateHashRequest) (*pb.StateHashResponse, error) {
	a := h.s.node
	hash, index, err := a.StateHashIndex()
	if err != nil {
		return nil, err
	}
	return &pb.StateHashResponse{Hash: hash, AppliedIndex: index}, nil
}

func (h *clusterService) Members(ctx context.Context, _ *pb.MembersRequest) (*pb.MembersResponse, error) {
	a := h.s.node
	var out []*pb.Member
	for _, m := range a.Members() {
		out = append(out, &pb.Member{
			Id: m.ID, RaftAddr: m.RaftAddr, GrpcAddr: m.GRPCAddr, GossipAddr: m.GossipAddr,
			Status: m.Status, Voter: m.Voter, InConfig: m.InConfig, Leader: m.Leader,
			AppliedIndex: m.AppliedIndex, Version: m.Version, ClusterId: m.ClusterID,
			DiskAlarm: m.DiskAlarm,
		})
	}
	return &pb.MembersResponse{Members: out}, nil
}

func (h *clusterService) Join(ctx context.Context, req *pb.JoinRequest) (*pb.JoinResponse, error) {
	if len(req.GetAddrs()) == 0 {
		return nil, flowmesh.Invalid("addrs", "at least one address is needed")
	}
	for _, a := range req.GetAddrs() {
		if err := flowmesh.ValidateAddr("addrs", a); err != nil {
			return nil, err
		}
	}
	a := h.s.node
	n, err := a.Join(ctx, req.GetAddrs())
	if err != nil {
		return nil, err
	}
	return &pb.JoinResponse{Joined: int32(n)}, nil
}

func (h *clusterService) Leave(ctx context.Context, req *pb.LeaveRequest) (*pb.LeaveResponse, error) {
	a := h.s.node
	id := req.GetNodeId()
	if self := a.ID(); id == "" || self != "" && id == self {
		if err := a.Leave(ctx); err != nil {
			return nil, err
		}
		if h.s.cfg.OnLeave != nil {
			h.s.cfg.OnLeave()
		}
		return &pb.LeaveResponse{}, nil
	}
	// Another node: ask it to leave (one hop).
	if md, _ := metadata.FromIncomingContext(ctx); isSet(md, MetadataForwarded) {
		return nil, flowmesh.Invalid("node_id", "%q is not this node", id)
	}
	addr := ""
	for _, m := range a.Members() {
		if m.ID == id {
			addr = m.GRPCAddr
		}
	}
	if addr == "" {
		return nil, flowmesh.Invalid("node_id", "no member %q with a gRPC address", id)
	}
	cc, err := h.s.fwd.conn(addr)
	if err != nil {
		return nil, err
	}
	return pb.NewClusterServiceClient(cc).Leave(outgoing(ctx), req)
}

func (h *clusterService) RemovePeer(ctx context.Context, req *pb.RemovePeerRequest) (*pb.RemovePeerResponse, error) {
	if req.GetNodeId() == "" {
		return nil, flowmesh.Invalid("node_id", "is empty")
	}
	a := h.s.node
	if err := a.RemovePeer(ctx, req.GetNodeId()); err != nil {
		return nil, unknownServer(err)
	}
	return &pb.RemovePeerResponse{}, nil
}

func (h *clusterService) TransferLeader(ctx context.Context, req *pb.TransferLeaderRequest) (*pb.TransferLeaderResponse, error) {
	a := h.s.node
	if err := a.TransferLeadership(ctx, req.GetNodeId()); err != nil {
		return nil, unknownServer(err)
	}
	return &pb.TransferLeaderResponse{}, nil
}

// unknownServer reports a server ID missing from the configuration as
// NotFound rather than Internal.
func unknownServer(err error) error {
	if errors.Is(err, nodeadmin.ErrUnknownServer) && !errors.Is(err, flowmesh.ErrNotFound) {
		return fmt.Errorf("%w: %v", flowmesh.ErrNotFound, err)
	}
	return err
}

// leaderFor returns the leader's gRPC address when a snapshot call on this
// node must be relayed there ("" to serve it here). Relayed calls and direct
// ones are served here, and so are calls while no leader's gRPC address is
// known: the node's own operation then fails NotLeader when it does not lead.
func (h *clusterService) leaderFor(ctx context.Context, a ClusterAdmin) string {
	if a.IsLeader() || h.s.cfg.DisableForwarding {
		return ""
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if isSet(md, MetadataDirect) || isSet(md, MetadataForwarded) {
		return ""
	}
	if id, addr := a.LeaderGRPC(); id != "" && addr != "" {
		return addr
	}
	return ""
}

// SnapshotSave takes a snapshot on the leader (or, with nothing new since
// the last one, uses that) and streams it.
func (h *clusterService) SnapshotSave(_ *pb.SnapshotSaveRequest, ss grpc.ServerStreamingServer[pb.SnapshotChunk]) error {
	ctx := ss.Context()
	a := h.s.node
	if addr := h.leaderFor(ctx, a); addr != "" {
		return h.relaySave(ctx, addr, ss)
	}
	meta, rc, err := a.SaveSnapshot(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	info := &pb.SnapshotInfo{Index: meta.Index, Term: meta.Term, Size: meta.Size, Version: int32(meta.Version), Id: meta.ID}
	buf := make([]byte, snapshotChunk)
	for sent := false; ; {
		n, err := io.ReadFull(rc, buf)
		if n > 0 || !sent {
			msg := &pb.SnapshotChunk{Data: buf[:n]}
			if !sent {
				msg.Info = info
			}
			if serr := ss.Send(msg); serr != nil {
				return serr
			}
			sent = true
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (h *clusterService) relaySave(ctx context.Context, addr string, ss grpc.ServerStreamingServer[pb.SnapshotChunk]) error {
	cc, err := h.s.fwd.conn(addr)
	if err != nil {
		return err
	}
	_ = ss.SetHeader(metadata.Pairs(MetadataLeader, addr))
	cs, err := pb.NewClusterServiceClient(cc).SnapshotSave(outgoing(ctx), &pb.SnapshotSaveRequest{})
	if err != nil {
		return err
	}
	for {
		msg, err := cs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ss.Send(msg); err != nil {
			return err
		}
	}
}

// SnapshotRestore restores an uploaded snapshot through raft on the leader.
func (h *clusterService) SnapshotRestore(ss grpc.ClientStreamingServer[pb.SnapshotRestoreRequest, pb.SnapshotRestoreResponse]) error {
	ctx := ss.Context()
	a := h.s.node
	first, err := ss.Recv()
	if err != nil {
		return err
	}
	info := first.GetInfo()
	if info == nil || info.GetSize() <= 0 {
		return flowmesh.Invalid("info", "the first message must carry the snapshot's info with its size")
	}
	if addr := h.leaderFor(ctx, a); addr != "" {
		return h.relayRestore(ctx, addr, first, ss)
	}
	r := &chunkReader{buf: first.GetData(), recv: func() ([]byte, error) {
		m, err := ss.Recv()
		return m.GetData(), err
	}}
	opts := nodeadmin.RestoreOptions{Size: info.GetSize(), ForceClusterID: first.GetForceClusterId()}
	if err := a.RestoreSnapshot(ctx, r, opts); err != nil {
		return restoreStatus(err)
	}
	return ss.SendAndClose(&pb.SnapshotRestoreResponse{})
}

func (h *clusterService) relayRestore(ctx context.Context, addr string, first *pb.SnapshotRestoreRequest, ss grpc.ClientStreamingServer[pb.SnapshotRestoreRequest, pb.SnapshotRestoreResponse]) error {
	cc, err := h.s.fwd.conn(addr)
	if err != nil {
		return err
	}
	_ = ss.SetHeader(metadata.Pairs(MetadataLeader, addr))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := pb.NewClusterServiceClient(cc).SnapshotRestore(outgoing(ctx))
	if err != nil {
		return err
	}
	for msg := first; ; {
		if err := cs.Send(msg); err != nil {
			break // the leader's answer comes from CloseAndRecv
		}
		msg, err = ss.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	resp, err := cs.CloseAndRecv()
	if err != nil {
		return err
	}
	return ss.SendAndClose(resp)
}

// restoreStatus gives Restore's refusals their codes; other errors go
// through the common translation.
func restoreStatus(err error) error {
	switch {
	case errors.Is(err, nodeadmin.ErrForeignSnapshot):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, nodeadmin.ErrRestoreInProgress):
		return status.Error(codes.Aborted, err.Error())
	}
	return err
}

// chunkReader reads the data of a stream of messages.
type chunkReader struct {
	buf  []byte
	recv func() ([]byte, error)
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		b, err := r.recv()
		if err != nil {
			return 0, err
		}
		r.buf = b
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

var roleToPB = map[Role]pb.Role{
	RoleFollower:  pb.Role_ROLE_FOLLOWER,
	RoleCandidate: pb.Role_ROLE_CANDIDATE,
	RoleLeader:    pb.Role_ROLE_LEADER,
	RoleShutdown:  pb.Role_ROLE_SHUTDOWN,
}

// status is the node's view of itself: its raft state, readiness and disk
// from the Node, its address and version from Config.
func (s *Server) status(ctx context.Context) (NodeStatus, error) {
	st, err := s.node.Status()
	if err != nil {
		return NodeStatus{}, err
	}
	ns := NodeStatus{
		NodeID: st.ID, Role: Role(st.State), Term: st.Term,
		CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
		GRPCAddr: s.cfg.GRPCAddr, Version: s.cfg.Version,
		LastLogIndex: st.LastLogIndex, LastSnapshotIndex: st.LastSnapshotIndex,
		ClusterID: st.ClusterID,
	}
	ns.LeaderID, ns.LeaderGRPCAddr = s.node.LeaderGRPC()
	if ns.LeaderGRPCAddr == "" && ns.LeaderID != "" && ns.LeaderID == ns.NodeID {
		ns.LeaderGRPCAddr = s.cfg.GRPCAddr // the node itself knows no gRPC address
	}
	rctx, cancel := context.WithTimeout(ctx, statusReadyWait)
	ns.Readiness = s.node.Ready(rctx)
	cancel()
	ns.DiskFreeBytes, ns.DiskReserveBytes, _ = s.node.LocalDisk()
	if err := s.node.DiskAlarm(); err != nil {
		ns.Alarms = append(ns.Alarms, "NOSPACE: "+strings.TrimPrefix(err.Error(), "flowmesh: "))
	}
	return ns, nil
}

// RemoveSelf returns the hook storage.Storage.SetRemoveSelf takes: it asks
// the leader over gRPC to remove server id from the raft configuration.
func (s *Server) RemoveSelf(id string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, addr := s.node.LeaderGRPC()
		if addr == "" {
			return flowmesh.ErrNoLeader
		}
		cc, err := s.fwd.conn(addr)
		if err != nil {
			return err
		}
		// Under a Leave RPC, ctx carries its caller: the leader sees the
		// same identity (a cluster-admin token works without peer TLS).
		// Otherwise the node's peer certificate makes it a node.
		_, err = pb.NewClusterServiceClient(cc).RemovePeer(outgoing(ctx), &pb.RemovePeerRequest{NodeId: id})
		return err
	}
}
