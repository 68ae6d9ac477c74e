package concurrency_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client/concurrency"
	"github.com/flowmesh/flowmesh/storage"
)

// A leader election with fencing: the lock's token guards every write of
// the holder, so a holder that lost the lock (paused past its TTL, cut off
// by a partition) cannot overwrite its successor's work. The same code runs
// against the network client (*client.Client).
func ExampleMutex() {
	dir, _ := os.MkdirTemp("", "flowmesh-lock-example")
	defer os.RemoveAll(dir)
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.Logger = slog.New(slog.DiscardHandler)
	node, err := storage.NewWithConfig(cfg)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := node.Start(ctx); err != nil {
		panic(err)
	}
	defer node.Stop(ctx)
	for _, name := range []string{"locks", "state"} {
		if _, err := node.MetaStore().CreateKVStore(ctx, "t1", "ns", name); err != nil {
			panic(err)
		}
	}
	kv := node.KVManager().(concurrency.KV)

	s, err := concurrency.NewSession(kv, "t1/ns/locks", concurrency.WithTTL(30*time.Second))
	if err != nil {
		panic(err)
	}
	defer s.Close()
	m := concurrency.NewMutex(s, "compactor")
	if err := m.Lock(ctx); err != nil {
		panic(err)
	}
	res, err := kv.Txn(ctx, flowmesh.Txn{
		Compares: []flowmesh.TxnCompare{m.IsOwner()},
		Then:     []flowmesh.TxnOp{flowmesh.OpPut("t1/ns/state", "compacted-up-to", []byte("1000"), 0)},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("write accepted:", res.Succeeded, "token > 0:", m.Token() > 0)
	if err := m.Unlock(ctx); err != nil {
		panic(err)
	}
	// Output:
	// write accepted: true token > 0: true
}
