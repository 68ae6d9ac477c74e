package storage_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/storage"
)

// TestDataDirLock: a second node on a running node's data dir is refused
// at Start with the holder's PID, before it opens any store, and the first
// keeps its data and keeps serving; once the first stops, the dir opens.
func TestDataDirLock(t *testing.T) {
	ctx := context.Background()
	first, _ := startNode(t)
	kvs, err := storage.NewResourceFactory(first.MetaStore()).CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	cfg := first.Config()
	second, err := storage.NewWithConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(ctx)
	if err == nil {
		second.Stop(ctx)
		t.Fatal("a second node started on a data dir in use")
	}
	if want := fmt.Sprintf("in use by another FlowMesh node (pid %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Fatalf("second Start: %v; want %q", err, want)
	}
	if _, err := first.KVManager().Put(ctx, kvs.GetPath(), "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("first node after the refused start: %v", err)
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	third, err := storage.NewWithConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := third.Start(ctx); err != nil {
		t.Fatalf("start after the holder stopped: %v", err)
	}
	defer third.Stop(ctx)
	if e, err := third.KVManager().Get(ctx, kvs.GetPath(), "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("Get after reopen = %q, %v", e.Value, err)
	}
}
