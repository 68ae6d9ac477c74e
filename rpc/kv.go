package rpc

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
	"github.com/flowmesh/flowmesh/rpc/pbconv"
)

type kvService struct {
	pb.UnimplementedKVServiceServer
	s *Server
}

func (h *kvService) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	ttl, err := duration("ttl", req.GetTtl())
	if err != nil {
		return nil, err
	}
	po := flowmesh.KVPutOptions{TTL: ttl}
	if req.IfRevision != nil {
		po.IfRevision = flowmesh.Rev(req.GetIfRevision())
	}
	if err := flowmesh.ValidatePut(req.GetKey(), req.GetValue(), po); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	rev, err := h.s.node.Put(ctx, req.GetPath(), req.GetKey(), req.GetValue(), po, opt)
	if err != nil {
		return nil, err
	}
	return &pb.PutResponse{Revision: rev}, nil
}

func (h *kvService) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateGet(req.GetKey()); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	e, err := h.s.node.Get(ctx, req.GetPath(), req.GetKey(), opt)
	if err != nil {
		return nil, err
	}
	return &pb.GetResponse{Entry: pbconv.KVEntry(e)}, nil
}

func (h *kvService) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateDelete(req.GetKey()); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	var do flowmesh.KVDeleteOptions
	if req.IfRevision != nil {
		do.IfRevision = flowmesh.Rev(req.GetIfRevision())
	}
	rev, err := h.s.node.Delete(ctx, req.GetPath(), req.GetKey(), do, opt)
	if err != nil {
		return nil, err
	}
	return &pb.DeleteResponse{Revision: rev}, nil
}

func (h *kvService) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	if err := checkPath(req.GetPath()); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateList(req.GetPrefix(), req.GetAfter(), int(req.GetLimit())); err != nil {
		return nil, err
	}
	opt, err := callOptions(req.GetOptions())
	if err != nil {
		return nil, err
	}
	entries, err := h.s.node.List(ctx, req.GetPath(), req.GetPrefix(), req.GetAfter(), int(req.GetLimit()), opt)
	if err != nil {
		return nil, err
	}
	out := make([]*pb.KVEntry, 0, len(entries))
	budget := h.s.cfg.MaxResponseBytes
	for _, e := range entries {
		pe := pbconv.KVEntry(e)
		if budget -= proto.Size(pe); budget < 0 && len(out) > 0 {
			break // key order: the caller continues after the last key
		}
		out = append(out, pe)
	}
	return &pb.ListResponse{Entries: out}, nil
}

func (h *kvService) Watch(req *pb.WatchRequest, ss grpc.ServerStreamingServer[pb.WatchResponse]) error {
	if err := checkPath(req.GetPath()); err != nil {
		return err
	}
	if err := flowmesh.ValidateWatch(req.GetPrefix()); err != nil {
		return err
	}
	release, err := admitStream(h.s.watchers, req.GetPath())
	if err != nil {
		return err
	}
	defer release()
	from := req.GetFromRevision()
	// Resolve from_revision 0 before the watch starts and report the start,
	// so a client that reconnects before any event resumes there.
	if from == 0 {
		next, err := h.s.node.NextRevision(ss.Context(), req.GetPath())
		if err != nil {
			return err
		}
		from = next
	}
	if from != 0 {
		if err := ss.SendHeader(metadata.Pairs(MetadataStartRevision, strconv.FormatUint(from, 10))); err != nil {
			return err
		}
	}
	// Several events may share a revision: a watcher cut off resumes at
	// the revision of the last event sent (the client skips what it saw).
	ctx := ss.Context()
	send := func(m proto.Message) error { return ss.Send(m.(*pb.WatchResponse)) }
	return h.s.serveStream(ctx, h.s.watchers, "watcher", from, send, func(put func(proto.Message, uint64) error) error {
		return h.s.node.Watch(ctx, req.GetPath(), req.GetPrefix(), from, func(e flowmesh.KVEvent) error {
			return put(&pb.WatchResponse{Event: pbconv.KVEvent(e)}, e.Revision)
		})
	})
}

// MetadataStartRevision is Watch's response header: the revision the watch
// starts at, so a client that reconnects before any event resumes there.
const MetadataStartRevision = "flowmesh-start-revision"
