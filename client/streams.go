package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// WriteEvents appends the batch atomically. It carries a request ID (the
// caller's, or a fresh one) and is retried with it, so a retry after a
// failover never appends the batch twice.
func (c *Client) WriteEvents(ctx context.Context, path string, events []flowmesh.StreamEvent, opts ...flowmesh.CallOption) ([]flowmesh.Position, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateWriteEvents(events); err != nil {
		return nil, err
	}
	wo, err := checkedWriteOptions(opts)
	if err != nil {
		return nil, err
	}
	req := &pb.WriteEventsRequest{Path: path, Events: pbconv.StreamEvents(events), Options: wo}
	resp := new(pb.WriteEventsResponse)
	err = c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp.Reset()
		return unary(ctx, cc, pb.StreamService_WriteEvents_FullMethodName, req, resp)
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromPositions(resp.GetPositions()), nil
}

// ReadFromOffset reads up to max messages of a partition from offset. The
// node may return fewer to bound the response size.
func (c *Client) ReadFromOffset(ctx context.Context, path string, partition int, offset uint64, max int, opts ...flowmesh.CallOption) ([]flowmesh.Message, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReadFromOffset(partition, max); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	req := &pb.ReadFromOffsetRequest{Path: path, Partition: int32(partition), Offset: offset, Max: int32(max), Options: readOptions(opts)}
	resp := new(pb.ReadFromOffsetResponse)
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp.Reset()
		return unary(ctx, cc, pb.StreamService_ReadFromOffset_FullMethodName, req, resp)
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromMessages(resp.GetMessages()), nil
}

// Subscribe calls fn for every message of the partition from offset on. When
// the connection fails it reconnects (to the leader hint or the next
// endpoint) and resumes after the last message delivered to fn, so fn sees
// every offset once and in order. It returns ctx.Err() when ctx ends, fn's
// error when fn fails, and the node's error when it refuses (say,
// *flowmesh.OffsetOutOfRangeError) or MaxRetries reconnects in a row fail.
func (c *Client) Subscribe(ctx context.Context, path string, partition int, offset uint64, fn func(flowmesh.Message) error) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateSubscribe(partition); err != nil {
		return err
	}
	p := int32(partition)
	next := offset
	return c.follow(ctx, func(ctx context.Context, cc *grpc.ClientConn, progress func()) error {
		s, err := pb.NewStreamServiceClient(cc).Subscribe(ctx, &pb.SubscribeRequest{Path: path, Partition: p, Offset: next})
		if err != nil {
			return err
		}
		for {
			resp, err := s.Recv()
			if err != nil {
				return err
			}
			m := pbconv.FromMessage(resp.GetMessage())
			if m.Offset < next {
				continue // already delivered before a reconnect
			}
			if err := fn(m); err != nil {
				return &callbackError{err}
			}
			next = m.Offset + 1
			progress()
		}
	})
}

// CommitOffset records a consumer group's next offset for a partition.
func (c *Client) CommitOffset(ctx context.Context, path, group string, partition int, offset uint64, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateCommitOffset(group, partition); err != nil {
		return err
	}
	if err := checkCallOptions(opts); err != nil {
		return err
	}
	req := &pb.CommitOffsetRequest{Path: path, Group: group, Partition: int32(partition), Offset: offset, Options: writeOptions(opts)}
	return c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, err := pb.NewStreamServiceClient(cc).CommitOffset(ctx, req)
		return err
	})
}

// FetchOffset returns a group's committed offset, or ErrNotFound.
func (c *Client) FetchOffset(ctx context.Context, path, group string, partition int, opts ...flowmesh.CallOption) (uint64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := flowmesh.ValidateFetchOffset(group, partition); err != nil {
		return 0, err
	}
	if err := checkCallOptions(opts); err != nil {
		return 0, err
	}
	req := &pb.FetchOffsetRequest{Path: path, Group: group, Partition: int32(partition), Options: readOptions(opts)}
	var resp *pb.FetchOffsetResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewStreamServiceClient(cc).FetchOffset(ctx, req)
		return err
	})
	if err != nil {
		return 0, err
	}
	return resp.GetOffset(), nil
}

// PartitionInfo returns the retained range [Earliest, Next) of a partition.
func (c *Client) PartitionInfo(ctx context.Context, path string, partition int, opts ...flowmesh.CallOption) (flowmesh.PartitionInfo, error) {
	if err := checkPath(path); err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	if err := flowmesh.ValidatePartitionInfo(partition); err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	if err := checkCallOptions(opts); err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	req := &pb.PartitionInfoRequest{Path: path, Partition: int32(partition), Options: readOptions(opts)}
	var resp *pb.PartitionInfoResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewStreamServiceClient(cc).PartitionInfo(ctx, req)
		return err
	})
	if err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	return pbconv.FromPartitionInfo(resp.GetInfo()), nil
}
