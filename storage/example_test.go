package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// The founding document's examples, run as tests.
func Example() {
	dir, _ := os.MkdirTemp("", "flowmesh-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := storage.New(dir)
	if err != nil {
		panic(err)
	}
	if err := s.Start(ctx); err != nil {
		panic(err)
	}
	defer s.Stop(context.Background())

	factory := storage.NewResourceFactory(s.MetaStore())
	stream, err := factory.CreateStream(ctx, "tenant1", "ns1", "events", 1) // 1 = partitions
	if err != nil {
		panic(err)
	}
	offsets, err := s.StreamManager().WriteEvents(ctx, stream.GetPath(), []storage.StreamEvent{{Payload: []byte("e"), Headers: map[string]string{"k": "v"}}})
	if err != nil {
		panic(err)
	}
	msgs, err := s.StreamManager().ReadFromOffset(ctx, stream.GetPath(), 0 /*partition*/, 0 /*offset*/, 10 /*max*/)
	if err != nil {
		panic(err)
	}
	fmt.Println(offsets[0].Offset, len(msgs), string(msgs[0].Payload), msgs[0].Headers["k"])

	queue, err := factory.CreateQueue(ctx, "tenant1", "ns1", "jobs", 1)
	if err != nil {
		panic(err)
	}
	jobID, seq, err := s.QueueManager().Enqueue(ctx, queue.GetPath(), []byte("p"), storage.QueueEnqueueOptions{Delay: 0})
	if err != nil {
		panic(err)
	}
	job, err := s.QueueManager().Reserve(ctx, queue.GetPath(), 30*time.Second) // nil job when empty
	if err != nil {
		panic(err)
	}
	fmt.Println(job.ID == jobID, seq, string(job.Payload))
	err = s.QueueManager().RemoveFromInFlight(ctx, queue.GetPath(), job.ID)
	fmt.Println(err)
	job, err = s.QueueManager().Reserve(ctx, queue.GetPath(), 30*time.Second)
	fmt.Println(job, err)
	// Output:
	// 0 1 e v
	// true 1 p
	// <nil>
	// <nil> <nil>
}

// The builder with an explicit configuration.
func ExampleNewBuilder() {
	dir, _ := os.MkdirTemp("", "flowmesh-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	cfg := &storage.Config{DataDir: dir, SegmentMaxSize: 100 << 20, SegmentMaxAge: 24 * time.Hour, FlushInterval: 5 * time.Second}
	s, err := storage.NewBuilder().WithDataDir(dir).WithConfig(cfg).BuildAndStart(ctx)
	if err != nil {
		panic(err)
	}
	defer s.Stop(context.Background())
	kvs, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "tenant1", "ns1", "cfg")
	if err != nil {
		panic(err)
	}
	rev, err := s.KVManager().Put(ctx, kvs.GetPath(), "greeting", []byte("hello"), storage.KVPutOptions{})
	if err != nil {
		panic(err)
	}
	e, err := s.KVManager().Get(ctx, kvs.GetPath(), "greeting")
	fmt.Println(string(e.Value), e.Revision == rev, err)
	// Output: hello true <nil>
}

// DefaultConfig with the builder.
func ExampleDefaultConfig() {
	dir, _ := os.MkdirTemp("", "flowmesh-example")
	defer os.RemoveAll(dir)
	s, err := storage.NewBuilder().WithDataDir(dir).WithConfig(storage.DefaultConfig()).BuildAndStart(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Config().DataDir == dir)
	fmt.Println(s.Stop(context.Background()))
	// Output:
	// true
	// <nil>
}

// A queue is one FIFO: the founding call takes a partition count, 0 or 1,
// and refuses more.
func ExampleResourceFactory_CreateQueue() {
	dir, _ := os.MkdirTemp("", "flowmesh-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := storage.NewBuilder().WithDataDir(dir).BuildAndStart(ctx)
	if err != nil {
		panic(err)
	}
	defer s.Stop(context.Background())
	factory := storage.NewResourceFactory(s.MetaStore())
	_, err = factory.CreateQueue(ctx, "tenant1", "ns1", "jobs", 2)
	fmt.Println(errors.Is(err, flowmesh.ErrInvalidArgument), err)
	q, err := factory.CreateQueue(ctx, "tenant1", "ns1", "jobs", 1)
	fmt.Println(q.GetPath(), err)
	// Output:
	// true flowmesh: invalid partitions: a queue has exactly 1 partition (0 means 1), got 2
	// tenant1/ns1/jobs <nil>
}
