package storage_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flowmesh/flowmesh"
)

// BenchmarkTxn3Ops: a KV put, a stream append and an enqueue as one
// transaction (one raft entry) against the same three as calls one after
// another (three entries, three commit waits), from 1 and 16 writers;
// ops/s counts the three-op units. Run:
//
//	go test ./storage -run '^$' -bench Txn3Ops -benchtime 2s
func BenchmarkTxn3Ops(b *testing.B) {
	s := startBenchNode(b)
	ctx := context.Background()
	kvPath := benchKV(b, s, "txn-kv")
	stream := benchStream(b, s, "txn-events", 8)
	q, err := s.MetaStore().CreateQueue(ctx, "bench", "ns", "txn-jobs", 1)
	if err != nil {
		b.Fatal(err)
	}
	queue := q.GetPath()
	kv, sm, qm := s.KVManager(), s.StreamManager(), s.QueueManager()
	payload := benchPayload()
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("txn/writers=%d", writers), func(b *testing.B) {
			runWorkers(b, writers, func(w, i int) error {
				_, err := s.Txn(ctx, flowmesh.Txn{Then: []flowmesh.TxnOp{
					flowmesh.OpPut(kvPath, fmt.Sprintf("key-%02d-%04d", w, i%1024), payload, 0),
					flowmesh.OpAppend(stream, flowmesh.StreamEvent{Payload: payload, Partition: w % 8}),
					flowmesh.OpEnqueue(queue, payload, flowmesh.QueueEnqueueOptions{}),
				}})
				return err
			})
			reportRate(b, 1, "ops/s")
		})
		b.Run(fmt.Sprintf("three-calls/writers=%d", writers), func(b *testing.B) {
			runWorkers(b, writers, func(w, i int) error {
				if _, err := kv.Put(ctx, kvPath, fmt.Sprintf("key-%02d-%04d", w, i%1024), payload, flowmesh.KVPutOptions{}); err != nil {
					return err
				}
				if _, err := sm.WriteEvents(ctx, stream, []flowmesh.StreamEvent{{Payload: payload, Partition: w % 8}}); err != nil {
					return err
				}
				_, _, err := qm.Enqueue(ctx, queue, payload, flowmesh.QueueEnqueueOptions{})
				return err
			})
			reportRate(b, 1, "ops/s")
		})
	}
}
