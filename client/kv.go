package client

import (
	"context"
	"strconv"

	"google.golang.org/grpc"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

// Put sets key to value and returns the new revision. It carries a request
// ID and is retried with it: a retried conditional put that had committed
// returns its revision rather than a revision mismatch.
func (c *Client) Put(ctx context.Context, path, key string, value []byte, opts flowmesh.KVPutOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := flowmesh.ValidatePut(key, value, opts); err != nil {
		return 0, err
	}
	wo, err := checkedWriteOptions(callOpts)
	if err != nil {
		return 0, err
	}
	req := &pb.PutRequest{Path: path, Key: key, Value: value, IfRevision: opts.IfRevision, Ttl: pbconv.Duration(opts.TTL), Options: wo}
	resp := new(pb.PutResponse)
	err = c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp.Reset()
		return unary(ctx, cc, pb.KVService_Put_FullMethodName, req, resp)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// Get returns key's current value, or ErrNotFound.
func (c *Client) Get(ctx context.Context, path, key string, opts ...flowmesh.CallOption) (flowmesh.KVEntry, error) {
	if err := checkPath(path); err != nil {
		return flowmesh.KVEntry{}, err
	}
	if err := flowmesh.ValidateGet(key); err != nil {
		return flowmesh.KVEntry{}, err
	}
	if err := checkCallOptions(opts); err != nil {
		return flowmesh.KVEntry{}, err
	}
	req := &pb.GetRequest{Path: path, Key: key, Options: readOptions(opts)}
	resp := new(pb.GetResponse)
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp.Reset()
		return unary(ctx, cc, pb.KVService_Get_FullMethodName, req, resp)
	})
	if err != nil {
		return flowmesh.KVEntry{}, err
	}
	return pbconv.FromKVEntry(resp.GetEntry()), nil
}

// Delete removes key and returns the revision of the delete.
func (c *Client) Delete(ctx context.Context, path, key string, opts flowmesh.KVDeleteOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := flowmesh.ValidateDelete(key); err != nil {
		return 0, err
	}
	wo, err := checkedWriteOptions(callOpts)
	if err != nil {
		return 0, err
	}
	req := &pb.DeleteRequest{Path: path, Key: key, IfRevision: opts.IfRevision, Options: wo}
	resp := new(pb.DeleteResponse)
	err = c.invoke(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		resp.Reset()
		return unary(ctx, cc, pb.KVService_Delete_FullMethodName, req, resp)
	})
	if err != nil {
		return 0, err
	}
	return resp.GetRevision(), nil
}

// List returns up to limit entries with the prefix whose key is > after, in
// key order. The node may return fewer to bound the response size: continue
// with after set to the last key.
func (c *Client) List(ctx context.Context, path, prefix, after string, limit int, opts ...flowmesh.CallOption) ([]flowmesh.KVEntry, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateList(prefix, after, limit); err != nil {
		return nil, err
	}
	if err := checkCallOptions(opts); err != nil {
		return nil, err
	}
	req := &pb.ListRequest{Path: path, Prefix: prefix, After: after, Limit: int32(limit), Options: readOptions(opts)}
	var resp *pb.ListResponse
	err := c.invoke(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewKVServiceClient(cc).List(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return pbconv.FromKVEntries(resp.GetEntries()), nil
}

// Watch calls fn for every change under prefix from fromRevision on. When
// the connection fails it reconnects and resumes at the revision of the last
// event delivered, skipping what fn has seen, so fn sees each change once
// and in revision order. A watch from 0 ("from now on") that breaks before
// its first event resumes at the revision the node reported when the watch
// started, so no change is lost across the reconnect. A compacted revision
// gives a *flowmesh.CompactedError.
func (c *Client) Watch(ctx context.Context, path, prefix string, fromRevision uint64, fn func(flowmesh.KVEvent) error) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateWatch(prefix); err != nil {
		return err
	}
	from := fromRevision
	var (
		last uint64              // revision of the last delivered event
		seen = map[string]bool{} // keys delivered at revision last
	)
	return c.follow(ctx, func(ctx context.Context, cc *grpc.ClientConn, progress func()) error {
		s, err := pb.NewKVServiceClient(cc).Watch(ctx, &pb.WatchRequest{Path: path, Prefix: prefix, FromRevision: from})
		if err != nil {
			return err
		}
		if from == 0 {
			// The node resolved "from now on" to a revision: resume there
			// after a reconnect, so no change made meanwhile is missed.
			if md, err := s.Header(); err == nil {
				if v := md.Get(mdStartRevision); len(v) > 0 {
					if rev, err := strconv.ParseUint(v[0], 10, 64); err == nil {
						from = rev
					}
				}
			}
		}
		for {
			resp, err := s.Recv()
			if err != nil {
				return err
			}
			ev := pbconv.FromKVEvent(resp.GetEvent())
			if last > 0 && (ev.Revision < last || ev.Revision == last && seen[ev.Key]) {
				continue // delivered before a reconnect
			}
			if err := fn(ev); err != nil {
				return &callbackError{err}
			}
			if ev.Revision != last {
				last = ev.Revision
				clear(seen)
			}
			seen[ev.Key] = true
			from = last // resume at last: several changes may share a revision
			progress()
		}
	})
}
