package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// exampleNode starts a real node in a temp dir, served on loopback, and
// returns its address. A program talks to a `flowmesh-node` instead.
func exampleNode() (addr string, stop func()) {
	dir, err := os.MkdirTemp("", "flowmesh-client-example")
	if err != nil {
		panic(err)
	}
	n, stopNode, err := startNode(dir)
	if err != nil {
		panic(err)
	}
	return n.addr, func() { stopNode(); os.RemoveAll(dir) }
}

func Example() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()

	c, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	kv, err := c.CreateKVStore(ctx, "t1", "ns1", "cfg")
	if err != nil {
		panic(err)
	}
	rev, err := c.Put(ctx, kv.GetPath(), "greeting", []byte("hello"), flowmesh.KVPutOptions{})
	if err != nil {
		panic(err)
	}
	e, err := c.Get(ctx, kv.GetPath(), "greeting")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(e.Value), e.Revision == rev)

	// A compare-and-swap against an old revision fails with the root
	// package's typed error, as with the embedded node.
	_, err = c.Put(ctx, kv.GetPath(), "greeting", []byte("hi"), flowmesh.KVPutOptions{IfRevision: flowmesh.Rev(rev - 1)})
	var rm *flowmesh.RevisionMismatchError
	fmt.Println(errors.Is(err, flowmesh.ErrRevisionMismatch), errors.As(err, &rm) && rm.Actual == rev)

	_, err = c.Get(ctx, kv.GetPath(), "missing")
	fmt.Println(errors.Is(err, flowmesh.ErrNotFound))
	// Output:
	// hello true
	// true true
	// true
}

func ExampleClient_WriteEvents() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	s, err := c.CreateStream(ctx, "t1", "ns1", "events", 1)
	if err != nil {
		panic(err)
	}
	// A request ID of your own makes the write safe to repeat, even across
	// client restarts; without one the client makes one per call.
	pos, err := c.WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{
		{Payload: []byte("a"), Headers: map[string]string{"k": "v"}},
		{Payload: []byte("b")},
	}, flowmesh.WithRequestID("order-42"))
	if err != nil {
		panic(err)
	}
	msgs, err := c.ReadFromOffset(ctx, s.GetPath(), 0, 0, 10)
	if err != nil {
		panic(err)
	}
	fmt.Println(pos)
	for _, m := range msgs {
		fmt.Println(m.Offset, string(m.Payload), m.Headers["k"])
	}
	// Output:
	// [{0 0} {0 1}]
	// 0 a v
	// 1 b
}

func ExampleClient_Subscribe() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	s, err := c.CreateStream(ctx, "t1", "ns1", "events", 1)
	if err != nil {
		panic(err)
	}
	if _, err := c.WriteEvents(ctx, s.GetPath(), []flowmesh.StreamEvent{{Payload: []byte("x")}, {Payload: []byte("y")}}); err != nil {
		panic(err)
	}
	// Subscribe tails the partition; returning an error from the callback
	// ends it (cancelling ctx does too).
	done := errors.New("done")
	err = c.Subscribe(ctx, s.GetPath(), 0, 0, func(m flowmesh.Message) error {
		fmt.Println(m.Offset, string(m.Payload))
		if m.Offset == 1 {
			return done
		}
		return nil
	})
	fmt.Println(err == done)
	// Output:
	// 0 x
	// 1 y
	// true
}

func ExampleClient_ReserveWait() {
	addr, stop := exampleNode()
	defer stop()
	ctx := context.Background()
	c, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	q, err := c.CreateQueue(ctx, "t1", "ns1", "jobs", 1)
	if err != nil {
		panic(err)
	}
	if _, _, err := c.Enqueue(ctx, q.GetPath(), []byte("resize img-7"), flowmesh.QueueEnqueueOptions{}); err != nil {
		panic(err)
	}
	// A worker waits up to 10s for a job, holds it for 30s, and acks it.
	job, err := c.ReserveWait(ctx, q.GetPath(), 30*time.Second, 10*time.Second)
	if err != nil || job == nil {
		panic(fmt.Sprint(job, err))
	}
	fmt.Println(string(job.Payload), job.Attempt)
	if err := c.Ack(ctx, q.GetPath(), job.Receipt); err != nil {
		panic(err)
	}
	st, err := c.Stats(ctx, q.GetPath())
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Ready, st.InFlight)
	// Output:
	// resize img-7 1
	// 0 0
}

func ExampleClient_Watch() {
	addr, stop := exampleNode()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	kv, err := c.CreateKVStore(ctx, "t1", "ns1", "cfg")
	if err != nil {
		panic(err)
	}
	first, err := c.Put(ctx, kv.GetPath(), "app/color", []byte("red"), flowmesh.KVPutOptions{})
	if err != nil {
		panic(err)
	}
	if _, err := c.Delete(ctx, kv.GetPath(), "app/color", flowmesh.KVDeleteOptions{}); err != nil {
		panic(err)
	}
	// Replay the changes under "app/" from the first put on.
	n := 0
	c.Watch(ctx, kv.GetPath(), "app/", first, func(e flowmesh.KVEvent) error {
		fmt.Println(e.Type, e.Key, string(e.Value))
		if n++; n == 2 {
			cancel()
		}
		return nil
	})
	// Output:
	// put app/color red
	// delete app/color
}

// New needs only the endpoints; the rest has defaults. Connections are made
// by the first call, so New does not fail when the nodes are down.
func ExampleNew() {
	c, err := client.New(client.Config{
		Endpoints:      []string{"10.0.0.1:7400", "10.0.0.2:7400", "10.0.0.3:7400"},
		RequestTimeout: 5 * time.Second,
		MaxRetries:     5,
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, err = client.New(client.Config{})
	fmt.Println(err)
	// Output:
	// flowmesh: invalid Endpoints: at least one endpoint is needed
}
