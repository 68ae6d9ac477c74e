package client

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// The pipe (PipeService.Call; proto/flowmesh/v1/pipe.proto, rpc/pipe.go)
// carries a connection's hot calls as messages of one bidirectional stream
// instead of one HTTP/2 stream each: no headers, trailers or stream setup
// per call, on either side. A call on it is the same call as the unary one
// (the node runs it through the same checks and returns the same result);
// invoke's retries, leader hints and error mapping see no difference.
//
// A connection opens its pipe once it is ready; until then, and whenever a
// node does not offer one (Unimplemented: an older node, or tracing is on),
// calls go unary. Which calls may have run when a pipe breaks:
//   - the node ended the pipe itself (io.EOF or a status of its own, e.g.
//     a stopping node after its notice): it answers every call it read
//     before it ends the pipe, so calls still waiting were not run and are
//     made again as unary calls;
//   - the connection broke: a waiting call may have run, and fails with
//     Unavailable, as a unary call does (invoke resends reads and writes
//     with a request ID; the node deduplicates those).

// pipeMethods are the calls made on the pipe: the small, frequent ones.
var pipeMethods = map[string]bool{
	pb.KVService_Put_FullMethodName:                   true,
	pb.KVService_Get_FullMethodName:                   true,
	pb.KVService_Delete_FullMethodName:                true,
	pb.StreamService_WriteEvents_FullMethodName:       true,
	pb.QueueService_Enqueue_FullMethodName:            true,
	pb.QueueService_EnqueueBatch_FullMethodName:       true,
	pb.QueueService_Reserve_FullMethodName:            true,
	pb.QueueService_ReserveBatch_FullMethodName:       true,
	pb.QueueService_Ack_FullMethodName:                true,
	pb.QueueService_AckBatch_FullMethodName:           true,
	pb.QueueService_RemoveFromInFlight_FullMethodName: true,
}

// pipeMaxRequest is the largest request sent on the pipe; larger ones go
// unary. They gain little from the pipe, would hold up the small calls
// behind them on its one stream, and one over the node's message limit
// would end the pipe (with every call on it) instead of failing alone.
const pipeMaxRequest = 256 << 10

// pipeOffAfterRefusal is how long a connection makes unary calls only after
// its node refused a pipe (e.g. Unimplemented).
const pipeOffAfterRefusal = 30 * time.Second

// errPipeNotSent: the call was not run by the node; make it unary.
var errPipeNotSent = errors.New("client: call not sent on the pipe")

// connPipe is the pipe of one connection, opened on demand.
type connPipe struct {
	cc *grpc.ClientConn // set once, right after the connection is made

	mu  sync.Mutex
	cur *pipe
	off time.Time // no pipe before this
}

// get returns the connection's pipe, opening one when the connection is
// ready and none is open; nil: make the call unary.
func (cp *connPipe) get() *pipe {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if p := cp.cur; p != nil {
		if !p.isDone() {
			return p
		}
		if code := p.refusal(); code != codes.OK {
			cp.off = time.Now().Add(pipeOffAfterRefusal)
		}
		cp.cur = nil
	}
	if cp.cc == nil || time.Now().Before(cp.off) || cp.cc.GetState() != connectivity.Ready {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := cp.cc.NewStream(ctx, &pb.PipeService_ServiceDesc.Streams[0], pb.PipeService_Call_FullMethodName)
	if err != nil {
		cancel()
		return nil
	}
	cp.cur = &pipe{stream: st, cancel: cancel, pending: map[uint64]chan pipeResult{}}
	go cp.cur.recvLoop()
	return cp.cur
}

// pipe is one open PipeService.Call stream.
type pipe struct {
	stream grpc.ClientStream
	cancel context.CancelFunc

	sendMu sync.Mutex // one Send at a time

	mu       sync.Mutex
	pending  map[uint64]chan pipeResult
	next     uint64
	done     bool       // takes no more calls
	endCode  codes.Code // the node refused the pipe (set with done): not OK
	answered bool       // a call was answered: the node serves pipes
}

type pipeResult struct {
	resp *pb.PipeResponse
	err  error
}

func (p *pipe) isDone() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// refusal is the code with which the node refused the pipe before
// answering any call on it, or OK.
func (p *pipe) refusal() codes.Code {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.answered {
		return codes.OK
	}
	return p.endCode
}

// call makes one call on the pipe. direct marks it flowmesh-direct; the
// response headers are stored in *hdr. errPipeNotSent: make it unary.
func (p *pipe) call(ctx context.Context, method string, req, reply any, direct bool, hdr *metadata.MD) error {
	in, ok := req.(proto.Message)
	out, ok2 := reply.(proto.Message)
	if !ok || !ok2 {
		return errPipeNotSent
	}
	r := &pb.PipeRequest{Method: method, Direct: direct}
	if md, ok := metadata.FromOutgoingContext(ctx); ok {
		for k, v := range md {
			if k == "authorization" {
				return errPipeNotSent // a per-call credential: the pipe has its own
			}
			if k == mdDirect {
				r.Direct = true
				continue
			}
			r.Metadata = append(r.Metadata, &pb.PipeMetadata{Key: k, Values: v})
		}
	}
	if err := ctx.Err(); err != nil {
		return status.FromContextError(err).Err() // not sent, as gRPC does
	}
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		if d <= 0 {
			return status.FromContextError(context.DeadlineExceeded).Err()
		}
		r.TimeoutNanos = int64(d)
	}
	payload, err := proto.Marshal(in)
	if err != nil {
		return status.Errorf(codes.Internal, "client: encode %s: %v", method, err)
	}
	if len(payload) > pipeMaxRequest {
		return errPipeNotSent
	}
	r.Payload = payload

	ch := make(chan pipeResult, 1)
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return errPipeNotSent
	}
	p.next++
	id := p.next
	r.Id = id
	p.pending[id] = ch
	p.mu.Unlock()

	p.sendMu.Lock()
	err = p.stream.SendMsg(r)
	p.sendMu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		// Refused before it was sent (encoding, size): the unary call
		// reports it. io.EOF: the stream ended; recvLoop settles the call.
		p.forget(id)
		return errPipeNotSent
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return res.err
		}
		if hdr != nil && len(res.resp.GetHeader()) > 0 {
			*hdr = metadata.MD{}
			for _, kv := range res.resp.GetHeader() {
				hdr.Append(kv.GetKey(), kv.GetValues()...)
			}
		}
		if b := res.resp.GetStatus(); len(b) > 0 {
			s := &spb.Status{}
			if err := proto.Unmarshal(b, s); err != nil {
				return status.Errorf(codes.Internal, "client: decode the status of %s: %v", method, err)
			}
			if s.GetCode() == int32(codes.OK) {
				return status.Errorf(codes.Internal, "client: %s failed with status OK", method)
			}
			return status.FromProto(s).Err()
		}
		if err := proto.Unmarshal(res.resp.GetPayload(), out); err != nil {
			return status.Errorf(codes.Internal, "client: decode the response of %s: %v", method, err)
		}
		return nil
	case <-ctx.Done():
		if p.forget(id) {
			// Tell the node, so it stops (a write not yet proposed is
			// not made) and sends nothing back.
			p.sendMu.Lock()
			_ = p.stream.SendMsg(&pb.PipeRequest{Id: id, Cancel: true})
			p.sendMu.Unlock()
		}
		return status.FromContextError(ctx.Err()).Err()
	}
}

// forget removes call id; false when it was settled already.
func (p *pipe) forget(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.pending[id]; !ok {
		return false
	}
	delete(p.pending, id)
	return true
}

// recvLoop delivers responses until the stream ends, then settles the calls
// still waiting (see the top of this file).
func (p *pipe) recvLoop() {
	for {
		resp := &pb.PipeResponse{}
		err := p.stream.RecvMsg(resp)
		if err != nil {
			p.end(err)
			return
		}
		if resp.GetId() == 0 {
			if resp.GetStopping() {
				p.drain()
			}
			continue
		}
		p.mu.Lock()
		ch := p.pending[resp.GetId()]
		delete(p.pending, resp.GetId())
		p.answered = true
		p.mu.Unlock()
		if ch != nil {
			ch <- pipeResult{resp: resp}
		}
	}
}

// drain follows a stopping node's notice: no more calls here; the node
// answers those it has and ends the pipe when this side is closed.
func (p *pipe) drain() {
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	p.sendMu.Lock()
	_ = p.stream.CloseSend()
	p.sendMu.Unlock()
}

// end settles every waiting call after the stream ended with err.
func (p *pipe) end(err error) {
	code := status.Code(err)
	var res pipeResult
	switch {
	case errors.Is(err, io.EOF):
		res.err = errPipeNotSent
		code = codes.OK
	case code == codes.Unimplemented || code == codes.Unauthenticated || code == codes.PermissionDenied || code == codes.InvalidArgument:
		// Ended by the node itself, after answering every call it ran.
		res.err = errPipeNotSent
	default:
		res.err = status.Errorf(codes.Unavailable, "client: the connection to the node broke before the answer: %v", status.Convert(err).Message())
		code = codes.OK // not a refusal of the pipe
	}
	p.mu.Lock()
	p.done = true
	p.endCode = code
	pending := p.pending
	p.pending = map[uint64]chan pipeResult{}
	p.mu.Unlock()
	for _, ch := range pending {
		ch <- res
	}
	p.cancel()
}
