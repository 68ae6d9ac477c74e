package rpc

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/grpcwire"
)

// Metadata keys of leader forwarding (see doc.go).
const (
	// MetadataDirect on a request ("1") asks the node not to forward: a
	// follower answers NotLeader with the leader's address instead. The SDK
	// sets it when it believes it is talking to the leader.
	MetadataDirect = "flowmesh-direct"
	// MetadataForwarded marks a call a follower forwarded; the receiver
	// never forwards it again (one hop).
	MetadataForwarded = "flowmesh-forwarded"
	// MetadataLeader is a response header on a forwarded call: the leader's
	// gRPC address, so a client can go there directly next time.
	MetadataLeader = "flowmesh-leader"
)

// forwarder sends calls a follower refused with NotLeader to the leader,
// over one cached connection per leader address.
type forwarder struct {
	dialOpts []grpc.DialOption

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	closed bool

	outTypes sync.Map // full method name -> protoreflect.MessageType
}

func newForwarder(opts []grpc.DialOption) *forwarder {
	return &forwarder{
		dialOpts: append([]grpc.DialOption{
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)),
			// Pings notice a leader that vanished, so a forwarded call does
			// not wait out its deadline on a dead connection; the server's
			// enforcement policy admits this rate.
			grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		}, append(grpcwire.DialOptions(), opts...)...),
		conns: make(map[string]*grpc.ClientConn),
	}
}

// conn returns the cached connection to addr, creating it on first use.
func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, flowmesh.ErrStopped
	}
	if cc, ok := f.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr, f.dialOpts...)
	if err != nil {
		return nil, err
	}
	f.conns[addr] = cc
	return cc, nil
}

// close closes every connection; later forwards fail with ErrStopped.
func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for addr, cc := range f.conns {
		cc.Close()
		delete(f.conns, addr)
	}
}

// leaderOf returns the leader's gRPC address when err is a NotLeader answer
// that may be forwarded from a call with incoming metadata md.
func leaderOf(ctx context.Context, err error) (string, bool) {
	var nl *flowmesh.NotLeaderError
	if !errors.As(err, &nl) || nl.LeaderID == "" || nl.LeaderAddr == "" {
		return "", false
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if isSet(md, MetadataDirect) || isSet(md, MetadataForwarded) {
		return "", false
	}
	return nl.LeaderAddr, true
}

func isSet(md metadata.MD, key string) bool {
	v := md.Get(key)
	return len(v) > 0 && v[0] != "" && v[0] != "0"
}

// outgoing returns ctx with the caller's metadata (minus transport headers)
// as outgoing metadata, marked forwarded and carrying the caller's identity
// (withSubject). The deadline travels with ctx.
func outgoing(ctx context.Context) context.Context {
	in, _ := metadata.FromIncomingContext(ctx)
	out := metadata.MD{}
	for k, v := range in {
		if strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") || k == "content-type" || k == "user-agent" || k == "te" {
			continue
		}
		out[k] = append([]string(nil), v...)
	}
	withSubject(ctx, out)
	out.Set(MetadataForwarded, "1")
	return metadata.NewOutgoingContext(ctx, out)
}

// forwardUnary invokes method on the leader at addr with req and returns
// the leader's response or status unchanged.
func (f *forwarder) forwardUnary(ctx context.Context, addr, method string, req any) (any, error) {
	msg, ok := req.(proto.Message)
	if !ok {
		return nil, errors.New("rpc: forward: request is not a protobuf message")
	}
	mt, err := f.outputType(method)
	if err != nil {
		return nil, err
	}
	cc, err := f.conn(addr)
	if err != nil {
		return nil, err
	}
	// The caller learns where the leader is, whatever the outcome.
	_ = grpc.SetHeader(ctx, metadata.Pairs(MetadataLeader, addr))
	resp := mt.New().Interface()
	if err := cc.Invoke(outgoing(ctx), method, msg, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// outputType resolves the response type of a full method name
// ("/flowmesh.v1.KVService/Put") through the protobuf registry.
func (f *forwarder) outputType(method string) (protoreflect.MessageType, error) {
	if mt, ok := f.outTypes.Load(method); ok {
		return mt.(protoreflect.MessageType), nil
	}
	svc, name, ok := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	if !ok {
		return nil, errors.New("rpc: forward: bad method name " + method)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, errors.New("rpc: forward: not a service: " + svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(name))
	if md == nil {
		return nil, errors.New("rpc: forward: no method " + method)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, err
	}
	f.outTypes.Store(method, mt)
	return mt, nil
}
