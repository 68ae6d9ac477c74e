package rpc

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// QuotaAdmin is what ClusterService's quota calls need. *storage.Storage
// satisfies it; a Backend offers it by implementing it (Parts: the Quotas
// field). Without it those calls answer Unimplemented.
type QuotaAdmin = flowmesh.QuotaManager

func (h *clusterService) quotas() (QuotaAdmin, error) {
	if a, ok := h.s.backend.(QuotaAdmin); ok {
		return a, nil
	}
	if p, ok := h.s.backend.(Parts); ok && p.Quotas != nil {
		return p.Quotas, nil
	}
	return nil, status.Error(codes.Unimplemented, "rpc: this node serves no quotas")
}

// byQuotaTenant scopes GetQuota by its tenant; the default ("*") belongs
// to no tenant, so only a cluster admin may read it.
func byQuotaTenant(req any) (string, string, error) {
	t := req.(*pb.GetQuotaRequest).GetTenant()
	if t == flowmesh.DefaultQuotaTenant {
		return t, "", nil // no tenant grant names "*": only cluster-admin covers it
	}
	if err := flowmesh.ValidateName("tenant", t); err != nil {
		return "", "", err
	}
	return t, "", nil
}

func (h *clusterService) SetQuota(ctx context.Context, req *pb.SetQuotaRequest) (*pb.QuotaResponse, error) {
	a, err := h.quotas()
	if err != nil {
		return nil, err
	}
	limits := pbconv.FromQuotaLimits(req.GetLimits())
	if err := flowmesh.ValidateSetQuota(req.GetTenant(), limits); err != nil {
		return nil, err
	}
	q, err := a.SetQuota(ctx, req.GetTenant(), limits, req.GetReset_())
	if err != nil {
		return nil, err
	}
	return pbconv.TenantQuota(q), nil
}

func (h *clusterService) GetQuota(ctx context.Context, req *pb.GetQuotaRequest) (*pb.QuotaResponse, error) {
	a, err := h.quotas()
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateQuotaTenant(req.GetTenant()); err != nil {
		return nil, err
	}
	q, err := a.Quota(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	return pbconv.TenantQuota(q), nil
}
