package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

var _ flowmesh.QuotaManager = (*Client)(nil)

// SetQuota merges the set fields of limits into tenant's quota, after
// clearing the tenant's own fields when reset is true; tenant
// flowmesh.DefaultQuotaTenant ("*") is the cluster default. It needs
// cluster-admin and returns the tenant's quota afterwards. It is
// idempotent, so it is retried like the writes.
func (c *Client) SetQuota(ctx context.Context, tenant string, limits flowmesh.QuotaLimits, reset bool) (flowmesh.TenantQuota, error) {
	if err := flowmesh.ValidateSetQuota(tenant, limits); err != nil {
		return flowmesh.TenantQuota{}, err
	}
	var resp *pb.QuotaResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterServiceClient(cc).SetQuota(ctx, &pb.SetQuotaRequest{Tenant: tenant, Limits: pbconv.QuotaLimits(limits), Reset_: reset})
		return err
	})
	if err != nil {
		return flowmesh.TenantQuota{}, err
	}
	return pbconv.FromTenantQuota(resp), nil
}

// Quota returns tenant's quota (its own fields, the effective limits) and
// its current use. It needs cluster-admin or admin in the tenant.
func (c *Client) Quota(ctx context.Context, tenant string) (flowmesh.TenantQuota, error) {
	if err := flowmesh.ValidateQuotaTenant(tenant); err != nil {
		return flowmesh.TenantQuota{}, err
	}
	var resp *pb.QuotaResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewClusterServiceClient(cc).GetQuota(ctx, &pb.GetQuotaRequest{Tenant: tenant})
		return err
	})
	if err != nil {
		return flowmesh.TenantQuota{}, err
	}
	return pbconv.FromTenantQuota(resp), nil
}
