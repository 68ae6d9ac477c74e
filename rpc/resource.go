package rpc

import (
	"context"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/auth"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

type resourceService struct {
	pb.UnimplementedResourceServiceServer
	s *Server
}

func (r *resourceService) CreateStream(ctx context.Context, req *pb.CreateStreamRequest) (*pb.CreateResourceResponse, error) {
	ctx, err := withRequestID(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	c := req.GetConfig()
	maxAge, err := duration("max_age", c.GetMaxAge())
	if err != nil {
		return nil, err
	}
	sc := flowmesh.StreamConfig{Partitions: int(c.GetPartitions()), MaxAge: maxAge, MaxBytes: c.GetMaxBytes()}
	if err := flowmesh.ValidateCreateStream(req.GetTenant(), req.GetNamespace(), req.GetName(), sc); err != nil {
		return nil, err
	}
	res, err := r.s.node.CreateStream(ctx, req.GetTenant(), req.GetNamespace(), req.GetName(),
		sc.Partitions, flowmesh.WithRetention(maxAge, sc.MaxBytes))
	if err != nil {
		return nil, err
	}
	return &pb.CreateResourceResponse{Resource: pbconv.Resource(res)}, nil
}

func (r *resourceService) CreateQueue(ctx context.Context, req *pb.CreateQueueRequest) (*pb.CreateResourceResponse, error) {
	ctx, err := withRequestID(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	c := req.GetConfig()
	vis, err := duration("visibility_timeout", c.GetVisibilityTimeout())
	if err != nil {
		return nil, err
	}
	qc := pbconv.FromQueueConfig(c)
	qc.VisibilityTimeout = vis
	// A queue is one FIFO: the request has no partition count (field 4 is
	// reserved), the founding API's argument is checked where it is given.
	if err := flowmesh.ValidateCreateQueue(req.GetTenant(), req.GetNamespace(), req.GetName(), 1, qc); err != nil {
		return nil, err
	}
	res, err := r.s.node.CreateQueue(ctx, req.GetTenant(), req.GetNamespace(), req.GetName(),
		1, func(dst *flowmesh.QueueConfig) { *dst = qc })
	if err != nil {
		return nil, err
	}
	return &pb.CreateResourceResponse{Resource: pbconv.Resource(res)}, nil
}

func (r *resourceService) CreateKVStore(ctx context.Context, req *pb.CreateKVStoreRequest) (*pb.CreateResourceResponse, error) {
	ctx, err := withRequestID(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	kc := flowmesh.KVConfig{HistoryRevisions: int(req.GetConfig().GetHistoryRevisions())}
	if err := flowmesh.ValidateCreateKVStore(req.GetTenant(), req.GetNamespace(), req.GetName(), kc); err != nil {
		return nil, err
	}
	res, err := r.s.node.CreateKVStore(ctx, req.GetTenant(), req.GetNamespace(), req.GetName(),
		flowmesh.WithHistory(kc.HistoryRevisions))
	if err != nil {
		return nil, err
	}
	return &pb.CreateResourceResponse{Resource: pbconv.Resource(res)}, nil
}

func (r *resourceService) GetResource(ctx context.Context, req *pb.GetResourceRequest) (*pb.GetResourceResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	res, err := r.s.node.GetResource(ctx, req.GetPath())
	if err != nil {
		return nil, err
	}
	return &pb.GetResourceResponse{Resource: pbconv.Resource(res)}, nil
}

func (r *resourceService) ListResources(ctx context.Context, req *pb.ListResourcesRequest) (*pb.ListResourcesResponse, error) {
	if err := flowmesh.ValidateListResources(req.GetTenant(), req.GetNamespace()); err != nil {
		return nil, err
	}
	list, err := r.s.node.ListResources(ctx, req.GetTenant(), req.GetNamespace())
	if err != nil {
		return nil, err
	}
	// A caller granted only some namespaces of the tenant sees only those.
	c, authed := callerFrom(ctx)
	whole := !authed || c.id.Allows(auth.PermRead, req.GetTenant(), req.GetNamespace())
	out := make([]*pb.Resource, 0, len(list))
	for _, res := range list {
		if res != nil && (whole || c.id.Allows(auth.PermRead, res.Tenant, res.Namespace)) {
			out = append(out, pbconv.Resource(res))
		}
	}
	return &pb.ListResourcesResponse{Resources: out}, nil
}

func (r *resourceService) DeleteResource(ctx context.Context, req *pb.DeleteResourceRequest) (*pb.DeleteResourceResponse, error) {
	ctx, err := withRequestID(ctx, req.GetRequestId())
	if err != nil {
		return nil, err
	}
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := r.s.node.DeleteResource(ctx, req.GetPath()); err != nil {
		return nil, err
	}
	return &pb.DeleteResourceResponse{}, nil
}

// withRequestID passes a resource write's request ID to the node, which
// takes no CallOptions for it (flowmesh.ContextWithRequestID).
func withRequestID(ctx context.Context, id string) (context.Context, error) {
	if id == "" {
		return ctx, nil
	}
	if err := flowmesh.ValidateCallOptions(flowmesh.CallOptions{RequestID: id}); err != nil {
		return nil, err
	}
	return flowmesh.ContextWithRequestID(ctx, id), nil
}
