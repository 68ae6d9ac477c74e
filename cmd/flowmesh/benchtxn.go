package main

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// The txn workload: a KV store at the bench path p, a stream at p+"-events"
// and a queue at p+"-jobs".

func createTxnBench(ctx context.Context, c *client.Client, tenant, ns, name string, partitions int) error {
	if _, err := c.CreateKVStore(ctx, tenant, ns, name); err != nil {
		return err
	}
	if _, err := c.CreateStream(ctx, tenant, ns, name+"-events", partitions); err != nil {
		return err
	}
	_, err := c.CreateQueue(ctx, tenant, ns, name+"-jobs", 1)
	return err
}

// deleteTxnBench removes the stream and queue (the caller the KV store).
func (a *app) deleteTxnBench(c *client.Client, p string) {
	for _, extra := range []string{p + "-events", p + "-jobs"} {
		ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
		if err := c.DeleteResource(ctx, extra); err != nil {
			fmt.Fprintf(a.stderr, "bench: deleting %s: %v\n", extra, err)
		}
		cancel()
	}
}

// addTxnBench adds the baseline (three calls one after another) and the
// transaction phase; an op is one put + append + enqueue either way.
func addTxnBench(add func(string, op), bc benchConfig, p string, value []byte, key func(int) string) {
	stream, queue := p+"-events", p+"-jobs"
	add("three-calls", func(ctx context.Context, c *client.Client, _ int, rng *rand.Rand) (int, int, error) {
		if _, err := c.Put(ctx, p, key(rng.IntN(bc.keys)), value, flowmesh.KVPutOptions{}); err != nil {
			return 0, 0, err
		}
		if _, err := c.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{Payload: value, Partition: rng.IntN(bc.partitions)}}); err != nil {
			return 0, 0, err
		}
		_, _, err := c.Enqueue(ctx, queue, value, flowmesh.QueueEnqueueOptions{})
		return 3 * len(value), 3, err
	})
	add("txn", func(ctx context.Context, c *client.Client, _ int, rng *rand.Rand) (int, int, error) {
		_, err := c.Txn(ctx, flowmesh.Txn{Then: []flowmesh.TxnOp{
			flowmesh.OpPut(p, key(rng.IntN(bc.keys)), value, 0),
			flowmesh.OpAppend(stream, flowmesh.StreamEvent{Payload: value, Partition: rng.IntN(bc.partitions)}),
			flowmesh.OpEnqueue(queue, value, flowmesh.QueueEnqueueOptions{}),
		}})
		return 3 * len(value), 3, err
	})
}
