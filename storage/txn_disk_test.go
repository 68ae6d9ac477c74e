package storage_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// TestDiskFullTxn: under the disk alarm a transaction that puts, appends or
// enqueues is refused with a DiskFullError and changes nothing, one that
// only deletes, acks and reads still commits.
func TestDiskFullTxn(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	ctx := context.Background()
	s := openDiskNode(t, filepath.Join(mnt, "data"))
	defer s.Stop(context.Background())
	rf := storage.NewResourceFactory(s.MetaStore())
	if _, err := rf.CreateKVStore(ctx, "t1", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := rf.CreateQueue(ctx, "t1", "ns", "q", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVManager().Put(ctx, "t1/ns/kv", "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.QueueManager().Enqueue(ctx, "t1/ns/q", []byte("j"), flowmesh.QueueEnqueueOptions{}); err != nil {
		t.Fatal(err)
	}
	job, err := s.QueueManager().Reserve(ctx, "t1/ns/q", 0)
	if err != nil || job == nil {
		t.Fatalf("Reserve: %v %v", job, err)
	}
	fill(t, filepath.Join(mnt, "filler"), 8<<20)
	waitDisk(t, "the disk alarm", func() bool { return s.DiskAlarm() != nil })

	before, err := s.StateHash()
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Txn(ctx, flowmesh.Txn{Then: []flowmesh.TxnOp{flowmesh.OpDelete("t1/ns/kv", "k")},
		Else: []flowmesh.TxnOp{flowmesh.OpEnqueue("t1/ns/q", []byte("more"), flowmesh.QueueEnqueueOptions{})}})
	var full *flowmesh.DiskFullError
	if !errors.As(err, &full) {
		t.Fatalf("a growing transaction on a full disk: %v, want a DiskFullError", err)
	}
	if after, _ := s.StateHash(); after != before {
		t.Fatal("the refused transaction changed the state")
	}
	res, err := s.Txn(ctx, flowmesh.Txn{Then: []flowmesh.TxnOp{
		flowmesh.OpGet("t1/ns/kv", "k"), flowmesh.OpDelete("t1/ns/kv", "k"), flowmesh.OpAck("t1/ns/q", job.Receipt)}})
	if err != nil || !res.Succeeded {
		t.Fatalf("a freeing transaction on a full disk: %v, %v", res, err)
	}
}
