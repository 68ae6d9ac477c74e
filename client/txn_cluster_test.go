package client_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

// TestClusterTxnTransfersUnderFailover moves money between KV accounts with
// transactions (two puts under revision compares, one event, one job each)
// from several workers while the leader stops. Retries reuse the request
// ID, so: the balances still sum to the start, and there are exactly as
// many events and jobs as acknowledged transfers; the survivors hold the
// same state.
func TestClusterTxnTransfersUnderFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes")
	}
	nodes := rpctest.StartCluster(t, 3, nil)
	c := clusterClient(t, rpctest.Addrs(nodes))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const accounts, start = 4, 1000
	const kv, ledger, jobs = "t/ns/accounts", "t/ns/ledger", "t/ns/jobs"
	if _, err := c.CreateKVStore(ctx, "t", "ns", "accounts"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, "t", "ns", "ledger", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateQueue(ctx, "t", "ns", "jobs", 1); err != nil {
		t.Fatal(err)
	}
	for i := range accounts {
		if _, err := c.Put(ctx, kv, fmt.Sprint("acct", i), []byte(strconv.Itoa(start)), flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	var (
		transfers atomic.Int64
		failed    atomic.Bool
		stopped   = make(chan struct{})
		wg        sync.WaitGroup
	)
	transfer := func(from, to int) (bool, error) {
		a, err := c.Get(ctx, kv, fmt.Sprint("acct", from))
		if err != nil {
			return false, err
		}
		b, err := c.Get(ctx, kv, fmt.Sprint("acct", to))
		if err != nil {
			return false, err
		}
		av, _ := strconv.Atoi(string(a.Value))
		bv, _ := strconv.Atoi(string(b.Value))
		desc := []byte(fmt.Sprintf("%d->%d 1", from, to))
		res, err := c.Txn(ctx, flowmesh.Txn{
			Compares: []flowmesh.TxnCompare{
				flowmesh.CompareRevision(kv, a.Key, flowmesh.CompareEqual, a.Revision),
				flowmesh.CompareRevision(kv, b.Key, flowmesh.CompareEqual, b.Revision),
			},
			Then: []flowmesh.TxnOp{
				flowmesh.OpPut(kv, a.Key, []byte(strconv.Itoa(av-1)), 0),
				flowmesh.OpPut(kv, b.Key, []byte(strconv.Itoa(bv+1)), 0),
				flowmesh.OpAppend(ledger, flowmesh.StreamEvent{Payload: desc}),
				flowmesh.OpEnqueue(jobs, desc, flowmesh.QueueEnqueueOptions{}),
			},
		})
		if err != nil {
			return false, err
		}
		return res.Succeeded, nil
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopped:
					return
				default:
				}
				from := (w + i) % accounts
				ok, err := transfer(from, (from+1+i%(accounts-1))%accounts)
				if err != nil {
					failed.Store(true)
					t.Errorf("worker %d transfer %d: %v", w, i, err)
					return
				}
				if ok {
					transfers.Add(1)
				}
			}
		}()
	}
	waitTransfers := func(n int64) {
		t.Helper()
		rpctest.WaitFor(t, 30*time.Second, fmt.Sprintf("%d transfers", n), func() error {
			if failed.Load() {
				t.FailNow()
			}
			if got := transfers.Load(); got < n {
				return fmt.Errorf("%d", got)
			}
			return nil
		})
	}
	waitTransfers(30)
	leader := rpctest.Leader(t, nodes)
	leader.Stop()
	waitTransfers(transfers.Load() + 30)
	close(stopped)
	wg.Wait()

	sum := 0
	for i := range accounts {
		e, err := c.Get(ctx, kv, fmt.Sprint("acct", i))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(string(e.Value))
		sum += v
	}
	info, err := c.PartitionInfo(ctx, ledger, 0)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := c.Stats(ctx, jobs)
	if err != nil {
		t.Fatal(err)
	}
	n := transfers.Load()
	t.Logf("%d transfers, %d events, %d jobs, balances sum %d", n, info.Next, stats.Ready, sum)
	if sum != accounts*start {
		t.Errorf("balances sum to %d, want %d", sum, accounts*start)
	}
	if int64(info.Next) != n || int64(stats.Ready) != n {
		t.Errorf("%d acknowledged transfers but %d events and %d jobs", n, info.Next, stats.Ready)
	}
	survivors := rpctest.Followers(nodes, leader)
	rpctest.WaitFor(t, 10*time.Second, "equal state hashes on the survivors", func() error {
		a, err := survivors[0].Store.StateHash()
		if err != nil {
			return err
		}
		b, err := survivors[1].Store.StateHash()
		if err != nil {
			return err
		}
		if a != b {
			return fmt.Errorf("%s != %s", a, b)
		}
		return nil
	})
}
