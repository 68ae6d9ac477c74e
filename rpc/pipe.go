package rpc

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// The pipe (PipeService.Call, proto/flowmesh/v1/pipe.proto) carries a
// connection's unary calls as messages of one bidirectional stream. gRPC
// spends most of a small call's CPU on the call's own HTTP/2 stream: HPACK
// headers and trailers encoded and parsed, a stream and its flow-control
// state set up and torn down, three frames out for one answer. On the pipe
// a call is one DATA frame each way. The call itself is unchanged: pipeCall
// runs the method's registered handler through the same unary interceptor
// chain a unary call takes (metrics, panic recovery, authorization with the
// pipe's credentials, rate limits, decode checks, forwarding), with the
// pipe's incoming metadata plus the call's own, its deadline, and a
// transport stream that records the headers it sets (flowmesh-leader) for
// the response.
//
// Stopping: GracefulStop lets calls in flight finish, as for unary calls. The
// pipe sends a "stopping" notice, answers calls that arrive after it with
// ErrStopped (not run, safe to resend elsewhere), waits for the client to
// close its side (at most pipeDrainGrace), waits for the calls it runs, and
// ends the stream without an error: every call it read was answered.

// pipeDrainGrace bounds how long a stopping node waits for a client to close
// its side of a pipe after the stopping notice.
const pipeDrainGrace = 2 * time.Second

// pipeHandler is a unary method as its service registered it.
type pipeHandler struct {
	srv     any
	handler grpc.MethodHandler
}

type pipeService struct {
	pb.UnimplementedPipeServiceServer
	s        *Server
	codec    *requestCodec
	chain    grpc.UnaryServerInterceptor
	handlers map[string]pipeHandler // full method name -> handler
	work     chan func()            // idle workers take calls here
}

// pipeWorkers is how many long-lived goroutines run pipe calls (as
// grpc.NumStreamWorkers does for unary ones): a fresh goroutine per call
// grows its stack (a copy) to the depth of a write every time, which cost
// the leader 7 % of its CPU under kv-put at C=64. A call that finds no idle
// worker gets a goroutine of its own.
const pipeWorkers = DefaultStreamWorkers

func (p *pipeService) worker() {
	for {
		select {
		case f := <-p.work:
			f()
		case <-p.s.stopping.Done():
			return
		}
	}
}

// dispatch runs f on an idle worker, or on a goroutine of its own.
func (p *pipeService) dispatch(f func()) {
	select {
	case p.work <- f:
	default:
		go f()
	}
}

// newPipeService serves the unary methods of the given flowmesh.v1 services
// (descriptors with their implementations) through chain.
func newPipeService(s *Server, codec *requestCodec, chain grpc.UnaryServerInterceptor, services map[*grpc.ServiceDesc]any) *pipeService {
	p := &pipeService{s: s, codec: codec, chain: chain, handlers: map[string]pipeHandler{}, work: make(chan func())}
	for sd, impl := range services {
		for _, m := range sd.Methods {
			p.handlers["/"+sd.ServiceName+"/"+m.MethodName] = pipeHandler{srv: impl, handler: m.Handler}
		}
	}
	for range pipeWorkers {
		go p.worker() // until the server stops
	}
	return p
}

// chainUnary composes interceptors as grpc.ChainUnaryInterceptor does: the
// first is outermost.
func chainUnary(ics []grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return chainFrom(ics, 0, info, handler)(ctx, req)
	}
}

func chainFrom(ics []grpc.UnaryServerInterceptor, i int, info *grpc.UnaryServerInfo, final grpc.UnaryHandler) grpc.UnaryHandler {
	if i == len(ics) {
		return final
	}
	return func(ctx context.Context, req any) (any, error) {
		return ics[i](ctx, req, info, chainFrom(ics, i+1, info, final))
	}
}

// pipeConn is the state of one pipe.
type pipeConn struct {
	p      *pipeService
	stream pb.PipeService_CallServer
	ctx    context.Context // the stream's: ends when the client goes away

	md, mdDirect metadata.MD // the pipe's incoming metadata, and with flowmesh-direct

	sendMu sync.Mutex

	mu       sync.Mutex
	calls    map[uint64]*pipeCall // in flight
	stopping bool                 // answer new calls ErrStopped
	closed   bool                 // the handler is returning: run nothing more
	running  sync.WaitGroup
	slots    chan struct{} // bounds the calls in flight (MaxConcurrentStreams)
}

func (p *pipeService) Call(stream pb.PipeService_CallServer) error {
	ctx := stream.Context()
	md, _ := metadata.FromIncomingContext(ctx)
	mdDirect := md.Copy()
	mdDirect.Set(MetadataDirect, "1")
	pc := &pipeConn{p: p, stream: stream, ctx: ctx, md: md, mdDirect: mdDirect,
		calls: map[uint64]*pipeCall{}, slots: make(chan struct{}, p.s.cfg.MaxConcurrentStreams)}

	recvDone := make(chan error, 1)
	go func() { recvDone <- pc.recvLoop() }()

	var err error
	select {
	case err = <-recvDone:
	case <-p.s.stopping.Done():
		pc.mu.Lock()
		pc.stopping = true
		pc.mu.Unlock()
		pc.send(&pb.PipeResponse{Stopping: true})
		t := time.NewTimer(pipeDrainGrace)
		select {
		case err = <-recvDone: // the client closed its side
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	pc.mu.Lock()
	pc.closed = true
	pc.mu.Unlock()
	pc.running.Wait()
	if errors.Is(err, io.EOF) || err == nil || ctx.Err() != nil {
		return nil
	}
	return err
}

// pipeCall is a call in flight.
type pipeCall struct {
	cancel   context.CancelFunc
	canceled bool // by the client, which waits for no response
}

// recvLoop reads calls until the client closes its side (io.EOF) or the
// stream fails, and starts each.
func (pc *pipeConn) recvLoop() error {
	for {
		req, err := pc.stream.Recv()
		if err != nil {
			return err
		}
		if req.GetCancel() {
			pc.mu.Lock()
			if c := pc.calls[req.GetId()]; c != nil {
				c.canceled = true
				c.cancel()
			}
			pc.mu.Unlock()
			continue
		}
		if req.GetId() == 0 {
			return status.Error(codes.InvalidArgument, "flowmesh: pipe call id 0 (ids start at 1)")
		}
		select {
		case pc.slots <- struct{}{}:
		case <-pc.ctx.Done():
			return pc.ctx.Err()
		}
		pc.mu.Lock()
		switch {
		case pc.closed:
			pc.mu.Unlock()
			<-pc.slots
			return nil
		case pc.stopping:
			pc.running.Add(1) // the handler waits for this answer too
			pc.mu.Unlock()
			<-pc.slots
			pc.send(pc.errorResponse(req.GetId(), stoppedStatus()))
			pc.running.Done()
			continue
		case pc.calls[req.GetId()] != nil:
			pc.mu.Unlock()
			<-pc.slots
			return status.Errorf(codes.InvalidArgument, "flowmesh: pipe call id %d is already in flight", req.GetId())
		}
		cctx, cancel := pc.callContext(req)
		pc.calls[req.GetId()] = &pipeCall{cancel: cancel}
		pc.running.Add(1)
		pc.mu.Unlock()
		pc.p.dispatch(func() { pc.run(cctx, cancel, req) })
	}
}

func stoppedStatus() *status.Status {
	return status.Convert(statusError(context.Background(), flowmesh.ErrStopped))
}

// callContext is the context a call runs with: the stream's (peer,
// credentials), the pipe's metadata with the call's own, its deadline.
func (pc *pipeConn) callContext(req *pb.PipeRequest) (context.Context, context.CancelFunc) {
	md := pc.md
	if req.GetDirect() {
		md = pc.mdDirect
	}
	if extra := req.GetMetadata(); len(extra) > 0 {
		md = md.Copy()
		for _, kv := range extra {
			k := strings.ToLower(kv.GetKey())
			if k == MetadataAuthorization || k == MetadataSubject || strings.HasPrefix(k, ":") || strings.HasPrefix(k, "grpc-") {
				continue // credentials are the pipe's; transport keys are gRPC's
			}
			md[k] = append(md[k], kv.GetValues()...)
		}
	}
	ctx := metadata.NewIncomingContext(pc.ctx, md)
	if t := req.GetTimeoutNanos(); t > 0 {
		return context.WithTimeout(ctx, time.Duration(t))
	}
	return context.WithCancel(ctx)
}

// run runs one call and sends its response.
func (pc *pipeConn) run(ctx context.Context, cancel context.CancelFunc, req *pb.PipeRequest) {
	defer pc.running.Done()
	resp := pc.call(ctx, req)
	cancel()
	pc.mu.Lock()
	c := pc.calls[req.GetId()]
	delete(pc.calls, req.GetId())
	pc.mu.Unlock()
	<-pc.slots
	if !c.canceled { // a call the client canceled waits for no response
		pc.send(resp)
	}
}

// call runs req's method through the unary chain and returns its response.
func (pc *pipeConn) call(ctx context.Context, req *pb.PipeRequest) (resp *pb.PipeResponse) {
	id := req.GetId()
	defer func() {
		if r := recover(); r != nil {
			resp = pc.errorResponse(id, status.Convert(pc.p.s.panicked(req.GetMethod(), r)))
		}
	}()
	h, ok := pc.p.handlers[req.GetMethod()]
	if !ok {
		return pc.errorResponse(id, status.Newf(codes.Unimplemented, "flowmesh: %q is not a unary method served over the pipe", boundedMessage(req.GetMethod(), 200)))
	}
	ts := &pipeTransportStream{method: req.GetMethod()}
	ctx = grpc.NewContextWithServerTransportStream(ctx, ts)
	payload := req.GetPayload()
	dec := func(m any) error { return pc.p.codec.unmarshalBytes(payload, m) }
	out, err := h.handler(h.srv, ctx, dec, pc.p.chain)
	resp = &pb.PipeResponse{Id: id, Header: pipeMetadata(ts.headers())}
	if err != nil {
		resp.Status, _ = proto.Marshal(status.Convert(err).Proto())
		return resp
	}
	msg, ok := out.(proto.Message)
	if !ok {
		return pc.errorResponse(id, status.New(codes.Internal, "flowmesh: internal error"))
	}
	if resp.Payload, err = proto.Marshal(msg); err != nil {
		return pc.errorResponse(id, status.Newf(codes.Internal, "flowmesh: encode response: %v", err))
	}
	return resp
}

func (pc *pipeConn) errorResponse(id uint64, st *status.Status) *pb.PipeResponse {
	b, _ := proto.Marshal(st.Proto())
	return &pb.PipeResponse{Id: id, Status: b}
}

// send sends r; a failure means the stream is gone, which Recv reports.
func (pc *pipeConn) send(r *pb.PipeResponse) {
	pc.sendMu.Lock()
	defer pc.sendMu.Unlock()
	_ = pc.stream.Send(r)
}

func pipeMetadata(md metadata.MD) []*pb.PipeMetadata {
	if len(md) == 0 {
		return nil
	}
	out := make([]*pb.PipeMetadata, 0, len(md))
	for k, v := range md {
		out = append(out, &pb.PipeMetadata{Key: k, Values: v})
	}
	return out
}

// pipeTransportStream is the grpc.ServerTransportStream of a call on the
// pipe: grpc.Method works, and the headers a handler or interceptor sets
// travel in the response.
type pipeTransportStream struct {
	method string
	mu     sync.Mutex
	header metadata.MD
}

func (t *pipeTransportStream) Method() string { return t.method }

func (t *pipeTransportStream) SetHeader(md metadata.MD) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.header = metadata.Join(t.header, md)
	return nil
}

func (t *pipeTransportStream) SendHeader(md metadata.MD) error { return t.SetHeader(md) }

// SetTrailer accepts trailers; the pipe carries none (no unary handler of
// ours sets any).
func (t *pipeTransportStream) SetTrailer(metadata.MD) error { return nil }

func (t *pipeTransportStream) headers() metadata.MD {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.header
}
