package client

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// A peer is a scripted stand-in for a node at the network seam: a real gRPC
// server on loopback whose handlers answer with the next scripted error (or
// succeed once the script is spent) and record what they were sent.
type peer struct {
	addr string

	mu     sync.Mutex
	script []error
	always error // returned once script is spent, when set
	hang   bool  // Put blocks until the caller gives up, as a paused node would
	reqIDs []string
	watch  func(req *pb.WatchRequest, ss grpc.ServerStreamingServer[pb.WatchResponse]) error
	sub    func(req *pb.SubscribeRequest, ss grpc.ServerStreamingServer[pb.SubscribeResponse]) error
}

func startPeer(t *testing.T, script ...error) *peer {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{addr: lis.Addr().String(), script: script}
	s := grpc.NewServer()
	pb.RegisterKVServiceServer(s, &peerKV{p: p})
	pb.RegisterResourceServiceServer(s, &peerResources{p: p})
	pb.RegisterStreamServiceServer(s, &peerStreams{p: p})
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return p
}

// answer records a call and returns the scripted answer.
func (p *peer) answer(reqID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqIDs = append(p.reqIDs, reqID)
	if len(p.script) > 0 {
		err := p.script[0]
		p.script = p.script[1:]
		return err
	}
	return p.always
}

func (p *peer) calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqIDs...)
}

// st returns err as the server would send it.
func st(err error) error { return rpc.ToStatus(context.Background(), err).Err() }

type peerKV struct {
	pb.UnimplementedKVServiceServer
	p *peer
}

func (k *peerKV) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	k.p.mu.Lock()
	hang := k.p.hang
	k.p.mu.Unlock()
	if hang {
		k.p.answer(req.GetOptions().GetRequestId())
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err := k.p.answer(req.GetOptions().GetRequestId()); err != nil {
		return nil, err
	}
	return &pb.PutResponse{Revision: 42}, nil
}

func (k *peerKV) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	if err := k.p.answer(""); err != nil {
		return nil, err
	}
	return &pb.GetResponse{Entry: &pb.KVEntry{Key: req.GetKey(), Value: []byte("v"), Revision: 7}}, nil
}

func (k *peerKV) Watch(req *pb.WatchRequest, ss grpc.ServerStreamingServer[pb.WatchResponse]) error {
	return k.p.watch(req, ss)
}

type peerResources struct {
	pb.UnimplementedResourceServiceServer
	p *peer
}

func (r *peerResources) CreateStream(ctx context.Context, req *pb.CreateStreamRequest) (*pb.CreateResourceResponse, error) {
	if err := r.p.answer(req.GetRequestId()); err != nil {
		return nil, err
	}
	return &pb.CreateResourceResponse{Resource: &pb.Resource{Tenant: req.GetTenant(), Namespace: req.GetNamespace(), Name: req.GetName(), Kind: pb.Kind_KIND_STREAM}}, nil
}

type peerStreams struct {
	pb.UnimplementedStreamServiceServer
	p *peer
}

func (s *peerStreams) Subscribe(req *pb.SubscribeRequest, ss grpc.ServerStreamingServer[pb.SubscribeResponse]) error {
	return s.p.sub(req, ss)
}

func newTestClient(t *testing.T, maxRetries int, endpoints ...string) *Client {
	t.Helper()
	c, err := New(Config{Endpoints: endpoints, MaxRetries: maxRetries, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const path = "t/ns/kv"

func wantSameIDs(t *testing.T, want string, lists ...[]string) {
	t.Helper()
	for _, ids := range lists {
		for _, id := range ids {
			if id == "" || (want != "" && id != want) {
				t.Fatalf("request IDs %v: want all equal to %q and not empty", lists, want)
			}
			want = id
		}
	}
}

func TestFollowsLeaderHint(t *testing.T) {
	b := startPeer(t)
	a := startPeer(t)
	a.always = st(&flowmesh.NotLeaderError{LeaderID: "b", LeaderAddr: b.addr})
	c := newTestClient(t, 5, a.addr)

	rev, err := c.Put(testCtx(t), path, "k", []byte("v"), flowmesh.KVPutOptions{})
	if err != nil || rev != 42 {
		t.Fatalf("Put = %d, %v; want 42, nil", rev, err)
	}
	if got := len(a.calls()); got != 1 {
		t.Errorf("follower got %d calls, want 1", got)
	}
	wantSameIDs(t, "", a.calls(), b.calls())
	if len(b.calls()) != 1 {
		t.Errorf("leader got %d calls, want 1", len(b.calls()))
	}
	// Later calls go straight to the leader.
	if _, err := c.Get(testCtx(t), path, "k"); err != nil {
		t.Fatal(err)
	}
	if got := len(a.calls()); got != 1 {
		t.Errorf("follower got %d calls after the redirect, want still 1", got)
	}
}

func TestRetrySameRequestIDAcrossEndpoints(t *testing.T) {
	for _, given := range []string{"", "caller-id"} {
		t.Run("given="+given, func(t *testing.T) {
			a := startPeer(t, status.Error(codes.Unavailable, "connection reset"))
			b := startPeer(t, st(flowmesh.ErrNoLeader))
			c := newTestClient(t, 5, a.addr, b.addr)
			var opts []flowmesh.CallOption
			if given != "" {
				opts = append(opts, flowmesh.WithRequestID(given))
			}
			if _, err := c.Put(testCtx(t), path, "k", []byte("v"), flowmesh.KVPutOptions{}, opts...); err != nil {
				t.Fatal(err)
			}
			// a fails, b has no leader, a succeeds: round robin without a hint.
			if len(a.calls()) != 2 || len(b.calls()) != 1 {
				t.Errorf("calls a=%d b=%d, want 2 and 1", len(a.calls()), len(b.calls()))
			}
			wantSameIDs(t, given, a.calls(), b.calls())
		})
	}
	// Each call has its own ID.
	a := startPeer(t)
	c := newTestClient(t, 5, a.addr)
	for range 2 {
		if _, err := c.Put(testCtx(t), path, "k", nil, flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if ids := a.calls(); len(ids) != 2 || ids[0] == ids[1] || len(ids[0]) != 32 {
		t.Errorf("request IDs of two calls = %q, want two different 32-hex IDs", ids)
	}
}

// A node that hangs (paused, partitioned) is given up on after
// AttemptTimeout, and the write goes to the next endpoint with the same ID.
func TestHungNodeIsLeftAfterAttemptTimeout(t *testing.T) {
	a, b := startPeer(t), startPeer(t)
	a.hang = true
	c, err := New(Config{Endpoints: []string{a.addr, b.addr}, AttemptTimeout: 200 * time.Millisecond,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Without the bound the hung node would hold the put until ctx ends.
	if _, err := c.Put(testCtx(t), path, "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(a.calls()) != 1 || len(b.calls()) != 1 {
		t.Fatalf("calls a=%d b=%d, want 1 and 1", len(a.calls()), len(b.calls()))
	}
	wantSameIDs(t, "", a.calls(), b.calls())
}

// TestResourceWritesRetryWithSameID: a create carries a request ID, so it
// is retried on every Unavailable, with the same ID (the node deduplicates).
func TestResourceWritesRetryWithSameID(t *testing.T) {
	tests := []struct {
		name  string
		first error
	}{
		{"not leader", st(&flowmesh.NotLeaderError{LeaderID: "b"})},
		{"no leader", st(flowmesh.ErrNoLeader)},
		{"stopped", st(flowmesh.ErrStopped)},
		{"transport", status.Error(codes.Unavailable, "connection reset")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startPeer(t, tt.first)
			b := startPeer(t)
			c := newTestClient(t, 5, a.addr, b.addr)
			if _, err := c.CreateStream(testCtx(t), "t", "ns", "s", 1); err != nil {
				t.Fatalf("CreateStream: %v", err)
			}
			ida, idb := a.calls(), b.calls()
			if len(ida) != 1 || len(idb) != 1 || ida[0] == "" || ida[0] != idb[0] {
				t.Errorf("request IDs on a %q and b %q, want one call each with the same ID", ida, idb)
			}
		})
	}
}

// TestUnsafeCallSkipsDownEndpoint: a create is not sent to an endpoint it
// cannot connect to, so it moves on to the next one.
func TestUnsafeCallSkipsDownEndpoint(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close()
	b := startPeer(t)
	c := newTestClient(t, 5, down, b.addr)
	if _, err := c.CreateStream(testCtx(t), "t", "ns", "s", 1); err != nil {
		t.Fatalf("CreateStream with the first endpoint down: %v", err)
	}
	if n := len(b.calls()); n != 1 {
		t.Errorf("second endpoint got %d calls, want 1", n)
	}
}

func TestRetryLimits(t *testing.T) {
	t.Run("max retries", func(t *testing.T) {
		a := startPeer(t)
		a.always = st(flowmesh.ErrNoLeader)
		c := newTestClient(t, 3, a.addr)
		_, err := c.Put(testCtx(t), path, "k", nil, flowmesh.KVPutOptions{})
		if !errors.Is(err, flowmesh.ErrNoLeader) {
			t.Errorf("got %v, want ErrNoLeader", err)
		}
		if n := len(a.calls()); n != 4 {
			t.Errorf("%d calls, want 1 + 3 retries", n)
		}
	})
	t.Run("never", func(t *testing.T) {
		a := startPeer(t)
		a.always = st(flowmesh.ErrNoLeader)
		c := newTestClient(t, -1, a.addr)
		c.Put(testCtx(t), path, "k", nil, flowmesh.KVPutOptions{})
		if n := len(a.calls()); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
	t.Run("ctx deadline", func(t *testing.T) {
		a := startPeer(t)
		a.always = st(flowmesh.ErrNoLeader)
		c := newTestClient(t, 1000, a.addr)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Get(ctx, path, "k")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("got %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("returned after %v, want about 100ms", d)
		}
	})
	t.Run("not retryable", func(t *testing.T) {
		for _, e := range []error{flowmesh.ErrNotFound, &flowmesh.RevisionMismatchError{Key: "k", Expected: 1, Actual: 2}, flowmesh.Invalid("key", "empty")} {
			a := startPeer(t, st(e))
			c := newTestClient(t, 5, a.addr)
			_, err := c.Put(testCtx(t), path, "k", nil, flowmesh.KVPutOptions{})
			if err == nil || err.Error() != e.Error() || len(a.calls()) != 1 {
				t.Errorf("got %v after %d calls, want %v after 1", err, len(a.calls()), e)
			}
		}
	})
	t.Run("closed", func(t *testing.T) {
		a := startPeer(t)
		c := newTestClient(t, 5, a.addr)
		c.Close()
		if _, err := c.Get(testCtx(t), path, "k"); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close got %v, want ErrClosed", err)
		}
	})
}

func TestWatchResumes(t *testing.T) {
	a := startPeer(t)
	var mu sync.Mutex
	var froms []uint64
	a.watch = func(req *pb.WatchRequest, ss grpc.ServerStreamingServer[pb.WatchResponse]) error {
		mu.Lock()
		froms = append(froms, req.GetFromRevision())
		n := len(froms)
		mu.Unlock()
		send := func(rev uint64, key string) {
			ss.Send(&pb.WatchResponse{Event: &pb.KVEvent{Type: pb.KVEventType_KV_EVENT_TYPE_PUT, Key: key, Revision: rev}})
		}
		switch n {
		case 1:
			send(3, "a")
			send(5, "k1")
			return st(flowmesh.ErrStopped)
		case 2:
			return status.Error(codes.Unavailable, "connection refused")
		default:
			send(3, "a") // a node may resend from the resume revision
			send(5, "k1")
			send(5, "k2")
			send(6, "k3")
			<-ss.Context().Done()
			return nil
		}
	}
	c := newTestClient(t, 5, a.addr)
	stop := errors.New("stop")
	var got []string
	err := c.Watch(testCtx(t), path, "", 1, func(e flowmesh.KVEvent) error {
		got = append(got, e.Key)
		if len(got) == 4 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Watch = %v, want the callback's error", err)
	}
	if want := []string{"a", "k1", "k2", "k3"}; len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Errorf("delivered %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(froms) != 3 || froms[0] != 1 || froms[1] != 5 || froms[2] != 5 {
		t.Errorf("watch opened from revisions %v, want [1 5 5]", froms)
	}
}

func TestSubscribeResumesAndStops(t *testing.T) {
	a := startPeer(t)
	var mu sync.Mutex
	var offsets []uint64
	a.sub = func(req *pb.SubscribeRequest, ss grpc.ServerStreamingServer[pb.SubscribeResponse]) error {
		mu.Lock()
		offsets = append(offsets, req.GetOffset())
		n := len(offsets)
		mu.Unlock()
		send := func(off uint64) { ss.Send(&pb.SubscribeResponse{Message: &pb.Message{Offset: off}}) }
		if n == 1 {
			send(10)
			send(11)
			return st(flowmesh.ErrNoLeader)
		}
		send(12)
		<-ss.Context().Done()
		return nil
	}
	c := newTestClient(t, 5, a.addr)

	ctx, cancel := context.WithCancel(testCtx(t))
	var got []uint64
	err := c.Subscribe(ctx, "t/ns/s", 0, 10, func(m flowmesh.Message) error {
		got = append(got, m.Offset)
		if m.Offset == 12 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe = %v, want context.Canceled", err)
	}
	if len(got) != 3 || got[0] != 10 || got[2] != 12 {
		t.Errorf("delivered offsets %v, want [10 11 12]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(offsets) != 2 || offsets[1] != 12 {
		t.Errorf("subscriptions opened at %v, want [10 12]", offsets)
	}

	// A refusal is returned, not retried.
	b := startPeer(t)
	b.sub = func(*pb.SubscribeRequest, grpc.ServerStreamingServer[pb.SubscribeResponse]) error {
		return st(&flowmesh.OffsetOutOfRangeError{Requested: 1, Earliest: 5, Next: 9})
	}
	err = newTestClient(t, 5, b.addr).Subscribe(testCtx(t), "t/ns/s", 0, 1, func(flowmesh.Message) error { return nil })
	var oe *flowmesh.OffsetOutOfRangeError
	if !errors.As(err, &oe) || oe.Earliest != 5 {
		t.Errorf("Subscribe below the range = %v, want *OffsetOutOfRangeError with Earliest 5", err)
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{cfg: Config{BackoffBase: 10 * time.Millisecond, BackoffMax: 80 * time.Millisecond}}
	for attempt := range 10 {
		want := min(10*time.Millisecond<<attempt, 80*time.Millisecond)
		for range 50 {
			if d := c.backoff(attempt); d < want/2 || d > want {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}

// A node ends a call at the deadline it was sent by resetting the stream
// (Canceled), which can arrive just before this side's own timer fires: the
// attempt still counts as expired, so the write moves on to the next node.
func TestAttemptResetAtItsDeadlineExpired(t *testing.T) {
	c, err := New(Config{Endpoints: []string{"127.0.0.1:1"}, AttemptTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expired, err := c.attempt(context.Background(), idempotent, nil, func(ctx context.Context, _ *grpc.ClientConn) error {
		d, ok := ctx.Deadline()
		if !ok {
			t.Fatal("attempt has no deadline")
		}
		time.Sleep(time.Until(d) - 300*time.Microsecond)
		return status.Error(codes.Canceled, "stream terminated by RST_STREAM with error code: CANCEL")
	})
	if !expired || status.Code(err) != codes.Canceled {
		t.Errorf("attempt = %v, %v; want expired with the node's error", expired, err)
	}
	// A reset well before the bound is the node's answer, not an expiry.
	expired, _ = c.attempt(context.Background(), idempotent, nil, func(context.Context, *grpc.ClientConn) error {
		return status.Error(codes.Canceled, "canceled by the node")
	})
	if expired {
		t.Error("an early Canceled counted as the attempt bound")
	}
}
