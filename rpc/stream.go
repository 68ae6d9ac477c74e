package rpc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

type streamService struct {
	pb.UnimplementedStreamServiceServer
	s *Server
}

func (h *streamService) WriteEvents(ctx context.Context, req *pb.WriteEventsRequest) (*pb.WriteEventsResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	events := pbconv.FromStreamEvents(req.GetEvents())
	if err := flowmesh.ValidateWriteEvents(events); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	pos, err := h.s.node.WriteEvents(ctx, req.GetPath(), events, opt)
	if err != nil {
		return nil, err
	}
	return &pb.WriteEventsResponse{Positions: pbconv.Positions(pos)}, nil
}

func (h *streamService) ReadFromOffset(ctx context.Context, req *pb.ReadFromOffsetRequest) (*pb.ReadFromOffsetResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReadFromOffset(int(req.GetPartition()), int(req.GetMax())); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	msgs, err := h.s.node.ReadFromOffset(ctx, req.GetPath(), int(req.GetPartition()), req.GetOffset(), int(req.GetMax()), opt)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Message, 0, len(msgs))
	budget := h.s.cfg.MaxResponseBytes
	for _, m := range msgs {
		pm := pbconv.Message(m)
		if budget -= proto.Size(pm); budget < 0 && len(out) > 0 {
			break // consecutive offsets: the caller reads on from the last one
		}
		out = append(out, pm)
	}
	return &pb.ReadFromOffsetResponse{Messages: out}, nil
}

func (h *streamService) Subscribe(req *pb.SubscribeRequest, ss grpc.ServerStreamingServer[pb.SubscribeResponse]) error {
	if err := checkPath(req.GetPath()); err != nil {
		return err
	}
	if err := flowmesh.ValidateSubscribe(int(req.GetPartition())); err != nil {
		return err
	}
	release, err := admitStream(h.s.subscribers, req.GetPath())
	if err != nil {
		return err
	}
	defer release()
	ctx := ss.Context()
	send := func(m proto.Message) error { return ss.Send(m.(*pb.SubscribeResponse)) }
	return h.s.serveStream(ctx, h.s.subscribers, "subscriber", req.GetOffset(), send, func(put func(proto.Message, uint64) error) error {
		return h.s.node.Subscribe(ctx, req.GetPath(), int(req.GetPartition()), req.GetOffset(), func(m flowmesh.Message) error {
			return put(&pb.SubscribeResponse{Message: pbconv.Message(m)}, m.Offset+1)
		})
	})
}

func (h *streamService) CommitOffset(ctx context.Context, req *pb.CommitOffsetRequest) (*pb.CommitOffsetResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateCommitOffset(req.GetGroup(), int(req.GetPartition())); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	if err := h.s.node.CommitOffset(ctx, req.GetPath(), req.GetGroup(), int(req.GetPartition()), req.GetOffset(), opt); err != nil {
		return nil, err
	}
	return &pb.CommitOffsetResponse{}, nil
}

func (h *streamService) FetchOffset(ctx context.Context, req *pb.FetchOffsetRequest) (*pb.FetchOffsetResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateFetchOffset(req.GetGroup(), int(req.GetPartition())); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	off, err := h.s.node.FetchOffset(ctx, req.GetPath(), req.GetGroup(), int(req.GetPartition()), opt)
	if err != nil {
		return nil, err
	}
	return &pb.FetchOffsetResponse{Offset: off}, nil
}

func (h *streamService) PartitionInfo(ctx context.Context, req *pb.PartitionInfoRequest) (*pb.PartitionInfoResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidatePartitionInfo(int(req.GetPartition())); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	info, err := h.s.node.PartitionInfo(ctx, req.GetPath(), int(req.GetPartition()), opt)
	if err != nil {
		return nil, err
	}
	return &pb.PartitionInfoResponse{Info: pbconv.PartitionInfo(info)}, nil
}
