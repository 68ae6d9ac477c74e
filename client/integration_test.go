package client_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRequestIDRepeats checks, against a real node, what the retry rules
// rely on: a write repeated with the same request ID returns its first
// result and changes nothing.
func TestRequestIDRepeats(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx := ctxFor(t)
	s, err := c.CreateStream(ctx, "t", "ns", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	q, err := c.CreateQueue(ctx, "t", "ns", "q", 1)
	if err != nil {
		t.Fatal(err)
	}

	var first []flowmesh.Position
	for i := range 2 {
		pos, err := c.WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("e")}}, flowmesh.WithRequestID("w1"))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = pos
		} else if fmt.Sprint(pos) != fmt.Sprint(first) {
			t.Errorf("repeated WriteEvents = %v, want the first result %v", pos, first)
		}
	}
	if info, err := c.PartitionInfo(ctx, s.GetPath(), 0); err != nil || info.Next != 1 {
		t.Errorf("after a repeated write Next = %d (%v), want 1", info.Next, err)
	}

	id1, _, err := c.Enqueue(ctx, q.GetPath(), []byte("a"), flowmesh.QueueEnqueueOptions{}, flowmesh.WithRequestID("e1"))
	if err != nil {
		t.Fatal(err)
	}
	id2, _, err := c.Enqueue(ctx, q.GetPath(), []byte("a"), flowmesh.QueueEnqueueOptions{}, flowmesh.WithRequestID("e1"))
	if err != nil || id2 != id1 {
		t.Errorf("repeated Enqueue = %q, %v; want %q", id2, err, id1)
	}
	if _, _, err := c.Enqueue(ctx, q.GetPath(), []byte("b"), flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatal(err)
	}

	j1, err := c.Reserve(ctx, q.GetPath(), time.Minute, flowmesh.WithRequestID("r1"))
	if err != nil || j1 == nil {
		t.Fatalf("Reserve = %v, %v", j1, err)
	}
	j2, err := c.Reserve(ctx, q.GetPath(), time.Minute, flowmesh.WithRequestID("r1"))
	if err != nil || j2 == nil || j2.ID != j1.ID || j2.Receipt != j1.Receipt {
		t.Errorf("repeated Reserve = %+v, %v; want the first reservation %+v", j2, err, j1)
	}
	if st, err := c.Stats(ctx, q.GetPath()); err != nil || st.InFlight != 1 || st.Ready != 1 {
		t.Errorf("after a repeated Reserve stats = %+v, %v; want 1 in flight, 1 ready", st, err)
	}
}

// TestSubscribeAcrossServerRestart breaks the client's stream by stopping
// the gRPC server and serving again on the same address: the subscription
// resumes where it was, without gaps or repeats.
func TestSubscribeAcrossServerRestart(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx := ctxFor(t)
	s, err := c.CreateStream(ctx, "t", "ns", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	write := func(p string) {
		t.Helper()
		if _, err := n.store.StreamManager().WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{{Payload: []byte(p)}}); err != nil {
			t.Fatal(err)
		}
	}
	write("0")
	write("1")

	got := make(chan flowmesh.Message, 10)
	subCtx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Subscribe(subCtx, s.GetPath(), 0, 0, func(m flowmesh.Message) error {
			got <- m
			return nil
		})
	}()
	want := func(off uint64) {
		t.Helper()
		select {
		case m := <-got:
			if m.Offset != off || string(m.Payload) != fmt.Sprint(off) {
				t.Fatalf("got offset %d %q, want %d", m.Offset, m.Payload, off)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no message at offset %d", off)
		}
	}
	want(0)
	want(1)

	n.stopServer()
	write("2")
	lis, err := net.Listen("tcp", n.addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", n.addr, err)
	}
	n.serve(lis)
	write("3")
	want(2)
	want(3)
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Errorf("Subscribe = %v, want context.Canceled", err)
	}
	select {
	case m := <-got:
		t.Errorf("unexpected extra message %+v", m)
	default:
	}
}

// TestReserveWaitLongPoll waits on an empty queue and gets a job enqueued
// while it waits.
func TestReserveWaitLongPoll(t *testing.T) {
	n := newNode(t)
	c := newClient(t, n.addr)
	ctx := ctxFor(t)
	q, err := c.CreateQueue(ctx, "t", "ns", "q", 1)
	if err != nil {
		t.Fatal(err)
	}
	if job, err := c.ReserveWait(ctx, q.GetPath(), time.Minute, 50*time.Millisecond); err != nil || job != nil {
		t.Fatalf("ReserveWait on an empty queue = %v, %v; want nil, nil", job, err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		c.Enqueue(context.Background(), q.GetPath(), []byte("late"), flowmesh.QueueEnqueueOptions{})
	}()
	start := time.Now()
	job, err := c.ReserveWait(ctx, q.GetPath(), time.Minute, 10*time.Second)
	if err != nil || job == nil || string(job.Payload) != "late" {
		t.Fatalf("ReserveWait = %+v, %v; want the late job", job, err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("ReserveWait returned after %v, want soon after the enqueue", d)
	}
}

// TestFirstEndpointDown: every kind of call moves on from an endpoint that
// refuses connections to one that serves.
func TestFirstEndpointDown(t *testing.T) {
	n := newNode(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := lis.Addr().String()
	lis.Close()
	for _, name := range []string{"create", "write", "read"} {
		c := newClientFor(t, down, n.addr)
		ctx := ctxFor(t)
		var err error
		switch name {
		case "create":
			_, err = c.CreateKVStore(ctx, "t", "ns", "kv")
		case "write":
			_, err = c.Put(ctx, "t/ns/kv", "k", []byte("v"), flowmesh.KVPutOptions{})
		case "read":
			_, err = c.Get(ctx, "t/ns/kv", "k")
		}
		if err != nil {
			t.Errorf("%s with the first endpoint down: %v", name, err)
		}
	}
}

func newClientFor(t *testing.T, endpoints ...string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: endpoints, BackoffBase: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
