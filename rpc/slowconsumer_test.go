package rpc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/rpc"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// smallWindowConn dials n with 64 KiB flow-control windows (no BDP growth),
// so a client that does not read stalls the node's sends after little data.
func smallWindowConn(t *testing.T, n *node) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(n.addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// fillStream creates t1/ns1/s with n events of size bytes each.
func fillStream(t *testing.T, c *client.Client, n, size int) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, "t1", "ns1", "s", 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; {
		var batch []flowmesh.StreamEvent
		for b := 0; i < n && (b+1)*size <= flowmesh.MaxBatchBytes; b, i = b+1, i+1 {
			batch = append(batch, flowmesh.StreamEvent{Payload: bytes.Repeat([]byte{byte(i)}, size)})
		}
		if _, err := c.WriteEvents(ctx, "t1/ns1/s", batch); err != nil {
			t.Fatal(err)
		}
	}
}

// A subscriber that stops reading is cut off after SlowConsumerTimeout with
// ResourceExhausted SLOW_CONSUMER naming where to resume; what it had been
// sent arrives before the status, and resume_from follows it.
func TestSlowSubscriberIsCutOff(t *testing.T) {
	n := startNodeWith(t, func(c *rpc.Config) { c.SlowConsumerTimeout = 300 * time.Millisecond })
	const events = 256 // 8 MiB: far more than the windows and the buffer
	fillStream(t, n.newClient(t), events, 32<<10)

	cc := smallWindowConn(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pb.NewStreamServiceClient(cc).Subscribe(ctx, &pb.SubscribeRequest{Path: "t1/ns1/s"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the subscriber cut off", func() error {
		if sub, _ := n.server.StreamStats(); sub.CutOff != 1 || sub.Open != 0 {
			return fmt.Errorf("subscribers %+v", sub)
		}
		return nil
	})
	var next uint64
	for {
		resp, err := s.Recv()
		if err == nil {
			if got := resp.GetMessage().GetOffset(); got != next {
				t.Fatalf("offset %d, want %d", got, next)
			}
			next++
			continue
		}
		st := status.Convert(err)
		if st.Code() != codes.ResourceExhausted {
			t.Fatalf("stream ended with %v, want ResourceExhausted", err)
		}
		if d := detailOf(err); d.GetCode() != pb.ErrorCode_ERROR_CODE_SLOW_CONSUMER {
			t.Fatalf("detail %v, want SLOW_CONSUMER", d)
		}
		// At least once: the message in flight at the cut may arrive too.
		if r := detailOf(err).GetResumeFrom(); r > next || r+1 < next {
			t.Fatalf("resume_from %d after receiving offsets [0, %d)", r, next)
		}
		if next == 0 || next >= events {
			t.Fatalf("received %d of %d events before the cut", next, events)
		}
		t.Logf("cut off after %d events: %v", next, err)
		break
	}
	// The node serves on.
	if _, err := n.newClient(t).WriteEvents(ctx, "t1/ns1/s", []flowmesh.StreamEvent{{Payload: []byte("after")}}); err != nil {
		t.Fatal(err)
	}
}

// The SDK resumes a Subscribe and a Watch the node cut off as too slow from
// where it was: the callback sees every offset (revision) once, in order.
func TestSDKResumesAfterSlowConsumerCutOff(t *testing.T) {
	n := startNodeWith(t, func(c *rpc.Config) { c.SlowConsumerTimeout = 200 * time.Millisecond })
	c, err := newSmallWindowClient(n)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const events = 128
	fillStream(t, c, events, 32<<10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var next uint64
	stop := errors.New("done")
	err = c.Subscribe(ctx, "t1/ns1/s", 0, 0, func(m flowmesh.Message) error {
		if m.Offset != next {
			return fmt.Errorf("offset %d, want %d", m.Offset, next)
		}
		if next == 0 {
			// Stall until the node gave up on us.
			waitUntil(t, 30*time.Second, "a cut off", func() error {
				if sub, _ := n.server.StreamStats(); sub.CutOff == 0 {
					return errors.New("not yet")
				}
				return nil
			})
		}
		if next++; next == events {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Subscribe: %v after %d events", err, next)
	}

	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	const puts = 64
	for i := range puts {
		if _, err := c.Put(ctx, "t1/ns1/kv", fmt.Sprintf("k%02d", i), bytes.Repeat([]byte{1}, 128<<10), flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got int
	var last uint64
	err = c.Watch(ctx, "t1/ns1/kv", "", 1, func(e flowmesh.KVEvent) error {
		if e.Revision <= last {
			return fmt.Errorf("revision %d after %d", e.Revision, last)
		}
		last = e.Revision
		if got == 0 {
			waitUntil(t, 30*time.Second, "a watcher cut off", func() error {
				if _, w := n.server.StreamStats(); w.CutOff == 0 {
					return errors.New("not yet")
				}
				return nil
			})
		}
		if got++; got == puts {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Watch: %v after %d events", err, got)
	}
}

// Subscribe and Watch streams beyond a cap are ResourceExhausted naming it
// and the use; a stream that ends gives its slot back.
func TestStreamCaps(t *testing.T) {
	n := startNodeWith(t, func(c *rpc.Config) {
		c.MaxSubscribers, c.MaxTenantSubscribers = 3, 2
		c.MaxWatchers, c.MaxTenantWatchers = 3, 2
	})
	c := n.newClient(t)
	ctx := context.Background()
	for _, tenant := range []string{"t1", "t2"} {
		if _, err := c.CreateStream(ctx, tenant, "ns", "s", 1); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CreateKVStore(ctx, tenant, "ns", "kv"); err != nil {
			t.Fatal(err)
		}
	}
	cc := smallWindowConn(t, n)
	sc, kc := pb.NewStreamServiceClient(cc), pb.NewKVServiceClient(cc)
	stats := func(kind string) rpc.StreamCapStats {
		sub, w := n.server.StreamStats()
		if kind == "Subscribe" {
			return sub
		}
		return w
	}
	// open starts a stream and returns once the node admitted it (its
	// count reached wantOpen) or refused it.
	open := func(kind, tenant string, wantOpen int) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		if kind == "Subscribe" {
			st, err := sc.Subscribe(ctx, &pb.SubscribeRequest{Path: tenant + "/ns/s"})
			if err != nil {
				return cancel, err
			}
			go func() { _, err := st.Recv(); errc <- err }()
		} else {
			st, err := kc.Watch(ctx, &pb.WatchRequest{Path: tenant + "/ns/kv"})
			if err != nil {
				return cancel, err
			}
			go func() { _, err := st.Recv(); errc <- err }()
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-errc:
				return cancel, err
			default:
			}
			if stats(kind).Open >= wantOpen {
				return cancel, nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("%s for %s: neither admitted nor refused in 10s", kind, tenant)
		return cancel, nil
	}
	for _, kind := range []string{"Subscribe", "Watch"} {
		var cancels []context.CancelFunc
		for i, tenant := range []string{"t1", "t1", "t2"} {
			cancel, err := open(kind, tenant, i+1)
			cancels = append(cancels, cancel)
			if err != nil {
				t.Fatalf("%s %d for %s: %v", kind, len(cancels), tenant, err)
			}
		}
		for _, tc := range []struct{ tenant, want string }{
			{"t2", kind + " streams open at this node is 4, limit 3"},
			{"t1", kind + " streams open at this node is 4, limit 3"},
		} {
			cancel, err := open(kind, tc.tenant, 4)
			cancels = append(cancels, cancel)
			if status.Code(err) != codes.ResourceExhausted || !bytes.Contains([]byte(status.Convert(err).Message()), []byte(tc.want)) {
				t.Fatalf("%s over the node cap: %v, want ResourceExhausted %q", kind, err, tc.want)
			}
		}
		cancels[2]() // t2's stream ends: the node cap has room, t1's does not
		waitUntil(t, 10*time.Second, "a slot back", func() error {
			if st := stats(kind); st.Open != 2 {
				return fmt.Errorf("%+v", st)
			}
			return nil
		})
		cancel, err := open(kind, "t1", 3)
		cancels = append(cancels, cancel)
		if want := kind + ` streams of tenant "t1" open at this node is 3, limit 2`; status.Code(err) != codes.ResourceExhausted ||
			!bytes.Contains([]byte(status.Convert(err).Message()), []byte(want)) {
			t.Fatalf("%s over the tenant cap: %v, want ResourceExhausted %q", kind, err, want)
		}
		if d := detailOf(err); d.GetCode() != pb.ErrorCode_ERROR_CODE_LIMIT_EXCEEDED || d.GetLimit() != 2 || d.GetGot() != 3 {
			t.Fatalf("%s tenant cap detail %v, want LIMIT_EXCEEDED 3 of 2", kind, d)
		}
		cancel, err = open(kind, "t2", 3)
		cancels = append(cancels, cancel)
		if err != nil {
			t.Fatalf("%s for t2 after a slot came back: %v", kind, err)
		}
		for _, c := range cancels {
			c()
		}
		waitUntil(t, 10*time.Second, "every slot back", func() error {
			if st := stats(kind); st.Open != 0 || st.Refused != 3 {
				return fmt.Errorf("%+v", st)
			}
			return nil
		})
	}
}

func detailOf(err error) *pb.ErrorDetail {
	for _, x := range status.Convert(err).Details() {
		if d, ok := x.(*pb.ErrorDetail); ok {
			return d
		}
	}
	return nil
}

// newSmallWindowClient is an SDK client of n over 64 KiB windows.
func newSmallWindowClient(n *node) (*client.Client, error) {
	return client.New(client.Config{Endpoints: []string{n.addr}, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		DialOptions: []grpc.DialOption{grpc.WithInitialWindowSize(64 << 10), grpc.WithInitialConnWindowSize(64 << 10)}})
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %v", d, what, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A subscriber with nothing pending is never cut off, however long it
// waits: the timeout runs only while the node has data its client does not
// take.
func TestIdleSubscriberIsNotCutOff(t *testing.T) {
	n := startNodeWith(t, func(c *rpc.Config) { c.SlowConsumerTimeout = 100 * time.Millisecond })
	c := n.newClient(t)
	fillStream(t, c, 1, 16)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := pb.NewStreamServiceClient(smallWindowConn(t, n)).Subscribe(ctx, &pb.SubscribeRequest{Path: "t1/ns1/s"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recv(); err != nil {
		t.Fatal(err)
	}
	// Ten timeouts with nothing to send.
	time.Sleep(time.Second)
	if sub, _ := n.server.StreamStats(); sub.CutOff != 0 || sub.Open != 1 {
		t.Fatalf("an idle subscriber: %+v", sub)
	}
	if _, err := c.WriteEvents(ctx, "t1/ns1/s", []flowmesh.StreamEvent{{Payload: []byte("later")}}); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Recv()
	if err != nil || string(resp.GetMessage().GetPayload()) != "later" {
		t.Fatalf("Recv after idling: %v, %v", resp, err)
	}
}
