package rpc

import (
	"context"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

type clusterService struct {
	pb.UnimplementedClusterServiceServer
	s *Server
}

func (h *clusterService) Status(ctx context.Context, _ *pb.StatusRequest) (*pb.StatusResponse, error) {
	st, err := h.s.backend.Status(ctx)
	if err != nil {
		return nil, err
	}
	return &pb.StatusResponse{Status: &pb.NodeStatus{
		NodeId:         st.NodeID,
		Role:           roleToPB[st.Role],
		Term:           st.Term,
		CommitIndex:    st.CommitIndex,
		AppliedIndex:   st.AppliedIndex,
		LeaderId:       st.LeaderID,
		LeaderGrpcAddr: st.LeaderGRPCAddr,
		GrpcAddr:       st.GRPCAddr,
		Version:        st.Version,
	}}, nil
}

var roleToPB = map[Role]pb.Role{
	RoleFollower:  pb.Role_ROLE_FOLLOWER,
	RoleCandidate: pb.Role_ROLE_CANDIDATE,
	RoleLeader:    pb.Role_ROLE_LEADER,
	RoleShutdown:  pb.Role_ROLE_SHUTDOWN,
}
