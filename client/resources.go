package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// CreateStream creates a stream. Like every resource write it carries a
// request ID, so a retry after a failover is deduplicated by the node and
// returns the first answer.
func (c *Client) CreateStream(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.StreamOption) (*flowmesh.Resource, error) {
	cfg := flowmesh.StreamConfig{Partitions: partitions}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := flowmesh.ValidateCreateStream(tenant, namespace, name, cfg); err != nil {
		return nil, err
	}
	req := &pb.CreateStreamRequest{RequestId: newRequestID(), Tenant: tenant, Namespace: namespace, Name: name, Config: pbconv.StreamConfig(&cfg)}
	return c.create(ctx, func(ctx context.Context, cc *grpc.ClientConn) (*pb.CreateResourceResponse, error) {
		return pb.NewResourceServiceClient(cc).CreateStream(ctx, req)
	})
}

// CreateQueue creates a work queue; partitions must be 0 or 1 (a queue is
// one FIFO). It is checked here and not sent: the request has no such field.
func (c *Client) CreateQueue(ctx context.Context, tenant, namespace, name string, partitions int, opts ...flowmesh.QueueOption) (*flowmesh.Resource, error) {
	var cfg flowmesh.QueueConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := flowmesh.ValidateCreateQueue(tenant, namespace, name, partitions, cfg); err != nil {
		return nil, err
	}
	req := &pb.CreateQueueRequest{RequestId: newRequestID(), Tenant: tenant, Namespace: namespace, Name: name, Config: pbconv.QueueConfig(&cfg)}
	return c.create(ctx, func(ctx context.Context, cc *grpc.ClientConn) (*pb.CreateResourceResponse, error) {
		return pb.NewResourceServiceClient(cc).CreateQueue(ctx, req)
	})
}

// CreateKVStore creates a KV store.
func (c *Client) CreateKVStore(ctx context.Context, tenant, namespace, name string, opts ...flowmesh.KVOption) (*flowmesh.Resource, error) {
	var cfg flowmesh.KVConfig
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	if err := flowmesh.ValidateCreateKVStore(tenant, namespace, name, cfg); err != nil {
		return nil, err
	}
	req := &pb.CreateKVStoreRequest{RequestId: newRequestID(), Tenant: tenant, Namespace: namespace, Name: name, Config: &pb.KVConfig{HistoryRevisions: int32(cfg.HistoryRevisions)}}
	return c.create(ctx, func(ctx context.Context, cc *grpc.ClientConn) (*pb.CreateResourceResponse, error) {
		return pb.NewResourceServiceClient(cc).CreateKVStore(ctx, req)
	})
}

func (c *Client) create(ctx context.Context, call func(context.Context, *grpc.ClientConn) (*pb.CreateResourceResponse, error)) (*flowmesh.Resource, error) {
	var resp *pb.CreateResourceResponse
	err := c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = call(ctx, cc)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromResource(resp.GetResource()), nil
}

// GetResource returns the resource at path.
func (c *Client) GetResource(ctx context.Context, path string) (*flowmesh.Resource, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	var resp *pb.GetResourceResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewResourceServiceClient(cc).GetResource(ctx, &pb.GetResourceRequest{Path: path})
		return err
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromResource(resp.GetResource()), nil
}

// ListResources lists a tenant's resources; namespace "" lists all namespaces.
func (c *Client) ListResources(ctx context.Context, tenant, namespace string) ([]*flowmesh.Resource, error) {
	if err := flowmesh.ValidateListResources(tenant, namespace); err != nil {
		return nil, err
	}
	var resp *pb.ListResourcesResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewResourceServiceClient(cc).ListResources(ctx, &pb.ListResourcesRequest{Tenant: tenant, Namespace: namespace})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]*flowmesh.Resource, len(resp.GetResources()))
	for i, r := range resp.GetResources() {
		out[i] = pbconv.FromResource(r)
	}
	return out, nil
}

// DeleteResource removes the resource and its data. It carries a request
// ID, so retries are deduplicated.
func (c *Client) DeleteResource(ctx context.Context, path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	req := &pb.DeleteResourceRequest{Path: path, RequestId: newRequestID()}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewResourceServiceClient(cc).DeleteResource(ctx, req)
		return err
	})
}
