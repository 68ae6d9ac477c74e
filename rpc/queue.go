package rpc

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

type queueService struct {
	pb.UnimplementedQueueServiceServer
	s *Server
}

func (h *queueService) Enqueue(ctx context.Context, req *pb.EnqueueRequest) (*pb.EnqueueResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	delay, err := duration("delay", req.GetDelay())
	if err != nil {
		return nil, err
	}
	eo := flowmesh.QueueEnqueueOptions{Delay: delay, DedupID: req.GetDedupId()}
	if err := flowmesh.ValidateEnqueue(req.GetPayload(), eo); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	id, seq, err := h.s.node.Enqueue(ctx, req.GetPath(), req.GetPayload(), eo, opt)
	if err != nil {
		return nil, err
	}
	return &pb.EnqueueResponse{JobId: id, Seq: seq}, nil
}

func (h *queueService) Reserve(ctx context.Context, req *pb.ReserveRequest) (*pb.ReserveResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	vis, err := duration("visibility", req.GetVisibility())
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserve(vis); err != nil {
		return nil, err
	}
	wait, err := pollWait(req.GetWait())
	if err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	var job *flowmesh.Job
	if wait > 0 {
		job, err = h.s.node.ReserveWait(ctx, req.GetPath(), vis, wait, opt)
	} else {
		job, err = h.s.node.Reserve(ctx, req.GetPath(), vis, opt)
	}
	if err != nil {
		return nil, err
	}
	return &pb.ReserveResponse{Job: pbconv.Job(job)}, nil
}

func (h *queueService) RemoveFromInFlight(ctx context.Context, req *pb.RemoveFromInFlightRequest) (*pb.RemoveFromInFlightResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateRemoveFromInFlight(req.GetJobId()); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	if err := h.s.node.RemoveFromInFlight(ctx, req.GetPath(), req.GetJobId(), opt); err != nil {
		return nil, err
	}
	return &pb.RemoveFromInFlightResponse{}, nil
}

func (h *queueService) Ack(ctx context.Context, req *pb.AckRequest) (*pb.AckResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	r := pbconv.FromReceipt(req.GetReceipt())
	if err := flowmesh.ValidateAck(r); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	if err := h.s.node.Ack(ctx, req.GetPath(), r, opt); err != nil {
		return nil, err
	}
	return &pb.AckResponse{}, nil
}

func (h *queueService) Nack(ctx context.Context, req *pb.NackRequest) (*pb.NackResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	delay, err := duration("delay", req.GetDelay())
	if err != nil {
		return nil, err
	}
	r := pbconv.FromReceipt(req.GetReceipt())
	if err := flowmesh.ValidateNack(r, delay); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	if err := h.s.node.Nack(ctx, req.GetPath(), r, delay, opt); err != nil {
		return nil, err
	}
	return &pb.NackResponse{}, nil
}

func (h *queueService) Touch(ctx context.Context, req *pb.TouchRequest) (*pb.TouchResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	vis, err := duration("visibility", req.GetVisibility())
	if err != nil {
		return nil, err
	}
	r := pbconv.FromReceipt(req.GetReceipt())
	if err := flowmesh.ValidateTouch(r, vis); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	if err := h.s.node.Touch(ctx, req.GetPath(), r, vis, opt); err != nil {
		return nil, err
	}
	return &pb.TouchResponse{}, nil
}

func (h *queueService) Stats(ctx context.Context, req *pb.StatsRequest) (*pb.StatsResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	st, err := h.s.node.Stats(ctx, req.GetPath(), opt)
	if err != nil {
		return nil, err
	}
	return &pb.StatsResponse{Stats: pbconv.QueueStats(st)}, nil
}

func (h *queueService) Purge(ctx context.Context, req *pb.PurgeRequest) (*pb.PurgeResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	n, err := h.s.node.Purge(ctx, req.GetPath(), opt)
	if err != nil {
		return nil, err
	}
	return &pb.PurgeResponse{Purged: int64(n)}, nil
}

func (h *queueService) ListDead(ctx context.Context, req *pb.ListDeadRequest) (*pb.ListDeadResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateListDead(int(req.GetLimit())); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	jobs, err := h.s.node.ListDead(ctx, req.GetPath(), int(req.GetLimit()), opt)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.Job, 0, len(jobs))
	budget := h.s.cfg.MaxResponseBytes
	for i := range jobs {
		pj := pbconv.Job(&jobs[i])
		if budget -= proto.Size(pj); budget < 0 && len(out) > 0 {
			break
		}
		out = append(out, pj)
	}
	return &pb.ListDeadResponse{Jobs: out}, nil
}

func (h *queueService) Redrive(ctx context.Context, req *pb.RedriveRequest) (*pb.RedriveResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	n, err := h.s.node.Redrive(ctx, req.GetPath(), int(req.GetMax()), opt)
	if err != nil {
		return nil, err
	}
	return &pb.RedriveResponse{Redriven: int64(n)}, nil
}
