package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/rpc"
)

// putGetRounds makes calls Put and Get pairs on t/ns/kv and checks every
// Get returns the value just put.
func putGetRounds(t *testing.T, c *client.Client, calls int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateKVStore(ctx, "t", "ns", "kv"); err != nil && !errors.Is(err, flowmesh.ErrAlreadyExists) {
		t.Fatal(err)
	}
	for i := range calls {
		key, val := fmt.Sprintf("k%d", i%10), fmt.Appendf(nil, "v%d", i)
		if _, err := c.Put(ctx, "t/ns/kv", key, val, flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
		e, err := c.Get(ctx, "t/ns/kv", key)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(e.Value, val) {
			t.Fatalf("Get %s = %q after Put %q", key, e.Value, val)
		}
	}
}

// TestHotCallsShareOnePipe checks that the SDK's hot calls travel as
// messages of one stream (the pipe): for 400 Puts and Gets the client opens
// a handful of HTTP/2 streams, not one per call, and every call still gets
// its own answer.
func TestHotCallsShareOnePipe(t *testing.T) {
	n := newNode(t)
	tap, dialed := tapDials(t)
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, DialOptions: []grpc.DialOption{tap}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const calls = 200
	putGetRounds(t, c, calls)
	// A request over the pipe's size cap goes unary (one stream more) and
	// leaves the pipe to the small calls.
	big := bytes.Repeat([]byte{'b'}, flowmesh.MaxPayloadSize)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "t/ns/kv", "big", big, flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("Put of a MaxPayloadSize value: %v", err)
	}
	if e, err := c.Get(ctx, "t/ns/kv", "big"); err != nil || !bytes.Equal(e.Value, big) {
		t.Fatalf("Get of the MaxPayloadSize value: %v (%d bytes)", err, len(e.Value))
	}
	putGetRounds(t, c, 10)
	c.Close()

	sent, _ := onlyConnFrames(t, dialed)
	t.Logf("client sent %v (frame type: count)", sent)
	if got := sent[http2.FrameData]; got < 2*calls {
		t.Fatalf("client sent %d DATA frames for %d calls: the tap missed traffic", got, 2*calls)
	}
	// CreateKVStore (twice), calls made before the connection was ready,
	// the pipe, the big Put.
	if got := sent[http2.FrameHeaders]; got > 6 {
		t.Fatalf("client opened %d streams for %d Puts and Gets: the calls did not share the pipe", got, 2*calls)
	}
}

// TestPipeFallsBackToUnaryCalls checks a client against a node without the
// pipe (rpc.Config.DisablePipe, as an older node): every call is made
// unary, with the same results.
func TestPipeFallsBackToUnaryCalls(t *testing.T) {
	n, stop, err := startNodeWith(t.TempDir(), rpc.Config{DisablePipe: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	tap, dialed := tapDials(t)
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, DialOptions: []grpc.DialOption{tap}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const calls = 100
	putGetRounds(t, c, calls)
	c.Close()
	sent, _ := onlyConnFrames(t, dialed)
	if got := sent[http2.FrameHeaders]; got < 2*calls {
		t.Fatalf("client opened %d streams for %d unary Puts and Gets, want one each", got, 2*calls)
	}
}

// TestPipeGracefulStop stops a node gracefully under a load of Puts on the
// pipe: GracefulStop returns (the pipe does not hold it), each Put either
// succeeds or fails with a retryable error, and every acknowledged Put is
// there when the node serves again.
func TestPipeGracefulStop(t *testing.T) {
	n := newNode(t)
	c, err := client.New(client.Config{Endpoints: []string{n.addr}, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := c.CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked []string
		bad   []error
		wg    sync.WaitGroup
		count atomic.Int64
		stop  = make(chan struct{})
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := c.Put(ctx, "t/ns/kv", key, []byte(key), flowmesh.KVPutOptions{})
				mu.Lock()
				switch {
				case err == nil:
					acked = append(acked, key)
					count.Add(1)
				case errors.Is(err, flowmesh.ErrStopped), status.Code(err) == codes.Unavailable:
				default:
					bad = append(bad, err)
				}
				mu.Unlock()
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(time.Millisecond):
					}
				}
			}
		})
	}
	for count.Load() < 200 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	stopped := make(chan struct{})
	go func() {
		n.server.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("GracefulStop did not return within 20s with pipes open")
	}
	close(stop)
	wg.Wait()
	<-n.done
	for _, err := range bad {
		t.Errorf("Put failed with a non-retryable error during a graceful stop: %v", err)
	}

	// Serve again on a new port: every acknowledged Put is there.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = lis.Addr().String()
	n.serve(lis)
	c2 := newClient(t, n.addr)
	for _, key := range acked {
		e, err := c2.Get(ctx, "t/ns/kv", key)
		if err != nil {
			t.Fatalf("acknowledged Put %s: %v", key, err)
		}
		if string(e.Value) != key {
			t.Fatalf("acknowledged Put %s reads %q", key, e.Value)
		}
	}
	t.Logf("%d Puts acknowledged before the stop, all read back", len(acked))
}

// TestPipeCallDeadlineAndCancel checks that a call on the pipe ends with
// its context: an expired deadline is DeadlineExceeded and a canceled
// context Canceled, and the pipe serves the next call.
func TestPipeCallDeadlineAndCancel(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	putGetRounds(t, c, 5) // the pipe is open now

	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := c.Get(ctx, "t/ns/kv", "k1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with an expired deadline: %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := c.Put(ctx, "t/ns/kv", "k1", []byte("x"), flowmesh.KVPutOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a canceled context: %v, want Canceled", err)
	}
	putGetRounds(t, c, 5)
}

// TestPipeCanceledReserveTakesNothing cancels a long-poll Reserve on the
// pipe: the call returns Canceled at once, the node stops its poll (a job
// enqueued afterwards is not reserved by it), and the next Reserve gets
// the job.
func TestPipeCanceledReserveTakesNothing(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateQueue(ctx, "t", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	putGetRounds(t, c, 2) // the pipe is open now

	pctx, pcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := c.ReserveWait(pctx, "t/ns/q", time.Minute, 20*time.Second)
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the poll is waiting on the node
	start := time.Now()
	pcancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled ReserveWait: %v, want Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("canceled ReserveWait returned after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("canceled ReserveWait did not return within 10s")
	}
	if _, _, err := c.Enqueue(ctx, "t/ns/q", []byte("job"), flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	job, err := c.ReserveWait(ctx, "t/ns/q", time.Minute, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if job == nil || string(job.Payload) != "job" {
		t.Fatalf("Reserve after a canceled poll: %+v, want the job (the canceled poll took it)", job)
	}
}
