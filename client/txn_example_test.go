package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// exampleClient starts a node (exampleNode) and connects to it.
func exampleClient() (*client.Client, func()) {
	addr, stop := exampleNode()
	c, err := client.New(client.Config{Endpoints: []string{addr}})
	if err != nil {
		panic(err)
	}
	return c, func() { c.Close(); stop() }
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// The transactional outbox: an order's state and the event announcing it
// are written together or not at all, so no consumer ever sees an event for
// a state that was not stored, nor a state change that was never announced.
func ExampleClient_Txn_outbox() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	orders := must(c.CreateKVStore(ctx, "shop", "prod", "orders")).GetPath()
	events := must(c.CreateStream(ctx, "shop", "prod", "order-events", 4)).GetPath()

	res, err := c.Txn(ctx, flowmesh.Txn{
		// Only a new order: a retry under another request ID changes nothing.
		Compares: []flowmesh.TxnCompare{flowmesh.CompareExists(orders, "order/42", false)},
		Then: []flowmesh.TxnOp{
			flowmesh.OpPut(orders, "order/42", []byte(`{"status":"placed"}`), 0),
			flowmesh.OpAppend(events, flowmesh.StreamEvent{Key: "order/42", Payload: []byte(`{"type":"OrderPlaced","id":42}`)}),
		},
	}, flowmesh.WithRequestID("place-order-42"))
	if err != nil {
		panic(err)
	}
	pos := res.Results[1].Positions[0]
	msgs := must(c.ReadFromOffset(ctx, events, pos.Partition, pos.Offset, 1))
	fmt.Println(res.Succeeded, string(msgs[0].Payload))
	// Output:
	// true {"type":"OrderPlaced","id":42}
}

// The exactly-once job step: a worker acks its job, stores the step's
// result and enqueues the next step in one transaction, under a compare that
// it still holds the job. A worker whose reservation expired (and whose job
// another worker took) changes nothing: its ack, its result and its next job
// are refused together.
func ExampleClient_Txn_jobStep() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	resize := must(c.CreateQueue(ctx, "media", "prod", "resize", 1)).GetPath()
	publish := must(c.CreateQueue(ctx, "media", "prod", "publish", 1)).GetPath()
	results := must(c.CreateKVStore(ctx, "media", "prod", "results")).GetPath()
	if _, _, err := c.Enqueue(ctx, resize, []byte("image-7"), flowmesh.QueueEnqueueOptions{}); err != nil {
		panic(err)
	}

	job := must(c.Reserve(ctx, resize, time.Minute))
	step := func(job *flowmesh.Job) (*flowmesh.TxnResult, error) {
		out := []byte("thumb-of-" + string(job.Payload))
		return c.Txn(ctx, flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{flowmesh.CompareHeld(resize, job.Receipt, true)},
			Then: []flowmesh.TxnOp{
				flowmesh.OpAck(resize, job.Receipt),
				flowmesh.OpPut(results, "resize/"+job.ID, out, 0),
				flowmesh.OpEnqueue(publish, out, flowmesh.QueueEnqueueOptions{DedupID: "publish-" + job.ID}),
			},
		})
	}
	res := must(step(job))
	fmt.Println("first run:", res.Succeeded)
	// The same step again (a duplicate delivery, a worker that lost its
	// reservation): the compare fails and nothing is done twice.
	res = must(step(job))
	fmt.Println("second run:", res.Succeeded)
	stats := must(c.Stats(ctx, publish))
	fmt.Println("publish jobs:", stats.Ready)
	// Output:
	// first run: true
	// second run: false
	// publish jobs: 1
}

// Optimistic event sourcing: an aggregate's events live in a partition, and
// a writer appends only if the partition's next offset is the version it
// decided on; a concurrent writer's append makes it re-read and retry.
func ExampleClient_Txn_eventSourcing() {
	c, stop := exampleClient()
	defer stop()
	ctx := context.Background()
	account := must(c.CreateStream(ctx, "bank", "prod", "account-9", 1)).GetPath()

	appendAt := func(version uint64, event string) (bool, error) {
		res, err := c.Txn(ctx, flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{flowmesh.CompareNext(account, 0, flowmesh.CompareEqual, version)},
			Then:     []flowmesh.TxnOp{flowmesh.OpAppend(account, flowmesh.StreamEvent{Payload: []byte(event)})},
		})
		if err != nil {
			return false, err
		}
		return res.Succeeded, nil
	}
	fmt.Println(appendAt(0, "Opened"))
	fmt.Println(appendAt(1, "Deposited 100"))
	// A writer that decided at version 1 lost the race: it must re-read.
	fmt.Println(appendAt(1, "Withdrew 500"))
	info := must(c.PartitionInfo(ctx, account, 0))
	fmt.Println("version", info.Next)

	// A failing op fails the whole transaction and names it.
	_, err := c.Txn(ctx, flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpAppend(account, flowmesh.StreamEvent{Payload: []byte("x")}),
		flowmesh.OpAppend(account, flowmesh.StreamEvent{Partition: 3, Payload: []byte("y")}),
	}})
	var te *flowmesh.TxnOpError
	fmt.Println(errors.As(err, &te), te.Branch, te.Index, errors.Is(err, flowmesh.ErrInvalidArgument))
	fmt.Println("version", must(c.PartitionInfo(ctx, account, 0)).Next)
	// Output:
	// true <nil>
	// true <nil>
	// false <nil>
	// version 2
	// true then 1 true
	// version 2
}
