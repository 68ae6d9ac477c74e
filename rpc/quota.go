package rpc

import (
	"context"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// QuotaAdmin is the part of Node that ClusterService's quota calls use.
type QuotaAdmin = flowmesh.QuotaManager

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
	a := h.s.node
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
	a := h.s.node
	if err := flowmesh.ValidateQuotaTenant(req.GetTenant()); err != nil {
		return nil, err
	}
	q, err := a.Quota(ctx, req.GetTenant())
	if err != nil {
		return nil, err
	}
	return pbconv.TenantQuota(q), nil
}
