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
	if err := checkNames(req.GetTenant(), req.GetNamespace(), req.GetName()); err != nil {
		return nil, err
	}
	c := req.GetConfig()
	if p := c.GetPartitions(); p < 1 || p > flowmesh.MaxPartitions {
		return nil, flowmesh.Invalid("partitions", "%d is outside 1..%d", p, flowmesh.MaxPartitions)
	}
	maxAge, err := duration("max_age", c.GetMaxAge(), 0)
	if err != nil {
		return nil, err
	}
	if c.GetMaxBytes() < 0 {
		return nil, flowmesh.Invalid("max_bytes", "%d is negative", c.GetMaxBytes())
	}
	res, err := r.s.backend.CreateStream(ctx, req.GetTenant(), req.GetNamespace(), req.GetName(),
		int(c.GetPartitions()), flowmesh.WithRetention(maxAge, c.GetMaxBytes()))
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
	if err := checkNames(req.GetTenant(), req.GetNamespace(), req.GetName()); err != nil {
		return nil, err
	}
	if p := req.GetPartitions(); p != 0 && p != 1 {
		return nil, flowmesh.Invalid("partitions", "%d: a queue has one partition (0 or 1)", p)
	}
	c := req.GetConfig()
	vis, err := duration("visibility_timeout", c.GetVisibilityTimeout(), flowmesh.MaxVisibility)
	if err != nil {
		return nil, err
	}
	if err := checkCount("max_attempts", c.GetMaxAttempts()); err != nil {
		return nil, err
	}
	if err := checkCount("max_payload", c.GetMaxPayload()); err != nil {
		return nil, err
	}
	if c.GetMaxPayload() > flowmesh.MaxPayloadSize {
		return nil, flowmesh.Invalid("max_payload", "%d exceeds MaxPayloadSize %d", c.GetMaxPayload(), flowmesh.MaxPayloadSize)
	}
	if err := flowmesh.ValidateDeadLetterQueue(req.GetTenant(), req.GetNamespace(), req.GetName(), c.GetDeadLetterQueue()); err != nil {
		return nil, err
	}
	qc := pbconv.FromQueueConfig(c)
	qc.VisibilityTimeout = vis
	res, err := r.s.backend.CreateQueue(ctx, req.GetTenant(), req.GetNamespace(), req.GetName(),
		int(req.GetPartitions()), func(dst *flowmesh.QueueConfig) { *dst = qc })
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
	if err := checkNames(req.GetTenant(), req.GetNamespace(), req.GetName()); err != nil {
		return nil, err
	}
	if err := checkCount("history_revisions", req.GetConfig().GetHistoryRevisions()); err != nil {
		return nil, err
	}
	res, err := r.s.backend.CreateKVStore(ctx, req.GetTenant(), req.GetNamespace(), req.GetName(),
		flowmesh.WithHistory(int(req.GetConfig().GetHistoryRevisions())))
	if err != nil {
		return nil, err
	}
	return &pb.CreateResourceResponse{Resource: pbconv.Resource(res)}, nil
}

func (r *resourceService) GetResource(ctx context.Context, req *pb.GetResourceRequest) (*pb.GetResourceResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	res, err := r.s.backend.GetResource(ctx, req.GetPath())
	if err != nil {
		return nil, err
	}
	return &pb.GetResourceResponse{Resource: pbconv.Resource(res)}, nil
}

func (r *resourceService) ListResources(ctx context.Context, req *pb.ListResourcesRequest) (*pb.ListResourcesResponse, error) {
	if err := flowmesh.ValidateName("tenant", req.GetTenant()); err != nil {
		return nil, err
	}
	if ns := req.GetNamespace(); ns != "" {
		if err := flowmesh.ValidateName("namespace", ns); err != nil {
			return nil, err
		}
	}
	list, err := r.s.backend.ListResources(ctx, req.GetTenant(), req.GetNamespace())
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
	if err := r.s.backend.DeleteResource(ctx, req.GetPath()); err != nil {
		return nil, err
	}
	return &pb.DeleteResourceResponse{}, nil
}

// withRequestID passes a resource write's request ID to the backend, which
// takes no CallOptions for it (flowmesh.ContextWithRequestID).
func withRequestID(ctx context.Context, id string) (context.Context, error) {
	if id == "" {
		return ctx, nil
	}
	if len(id) > flowmesh.MaxRequestIDLen {
		return nil, flowmesh.Invalid("request_id", "is %d bytes, limit %d", len(id), flowmesh.MaxRequestIDLen)
	}
	return flowmesh.ContextWithRequestID(ctx, id), nil
}
