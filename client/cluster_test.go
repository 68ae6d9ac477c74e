package client_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/rpc/rpctest"
)

func clusterClient(t *testing.T, endpoints []string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Endpoints: endpoints, MaxRetries: 40, BackoffBase: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestClusterFailover writes from several goroutines through an SDK client
// that knows all three nodes while the leader stops: writes go on, and
// every acknowledged write is in the stream exactly once (retries reuse the
// request ID); no write appears twice.
func TestClusterFailover(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	c := clusterClient(t, rpctest.Addrs(nodes))
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := c.CreateStream(ctx, "t", "ns", "s", 1); err != nil {
		t.Fatal(err)
	}

	const writers = 4
	var (
		acked   sync.Map // payload -> true
		nAcked  atomic.Int64
		failed  atomic.Int64
		stopped = make(chan struct{})
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopped:
					return
				default:
				}
				p := fmt.Sprintf("w%d-%d", w, i)
				if _, err := c.WriteEvents(ctx, "t/ns/s", []flowmesh.StreamEvent{{Payload: []byte(p)}}); err != nil {
					failed.Add(1)
					t.Errorf("write %s: %v", p, err)
					return
				}
				acked.Store(p, true)
				nAcked.Add(1)
			}
		}()
	}
	waitAcked := func(n int64) {
		t.Helper()
		rpctest.WaitFor(t, 30*time.Second, fmt.Sprintf("%d acknowledged writes", n), func() error {
			if failed.Load() > 0 {
				t.FailNow()
			}
			if got := nAcked.Load(); got < n {
				return fmt.Errorf("%d", got)
			}
			return nil
		})
	}
	waitAcked(50)
	leader := rpctest.Leader(t, nodes)
	leader.Stop()
	before := nAcked.Load()
	waitAcked(before + 100) // writes continue under the new leader
	close(stopped)
	wg.Wait()

	seen := map[string]int{}
	for off := uint64(0); ; {
		msgs, err := c.ReadFromOffset(ctx, "t/ns/s", 0, off, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			seen[string(m.Payload)]++
			off = m.Offset + 1
		}
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("%s written %d times", p, n)
		}
	}
	acked.Range(func(k, _ any) bool {
		if seen[k.(string)] != 1 {
			t.Errorf("acknowledged write %s missing", k)
		}
		return true
	})
	t.Logf("%d acknowledged writes, %d in the stream", nAcked.Load(), len(seen))
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

// TestClusterWatchResumesFromStart: a watch from 0 that loses its node
// before any event resumes elsewhere at the revision the node reported, so
// a change made while it was disconnected is delivered.
func TestClusterWatchResumesFromStart(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	fs := rpctest.Followers(nodes, leader)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	writer := clusterClient(t, []string{leader.Addr})
	if _, err := writer.CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	// The watcher's node must have applied the create before the watch opens.
	lst, err := leader.Store.Status()
	if err != nil {
		t.Fatal(err)
	}
	rpctest.WaitFor(t, 10*time.Second, fs[0].ID+" catching up", func() error {
		st, err := fs[0].Store.Status()
		if err != nil || st.AppliedIndex < lst.AppliedIndex {
			return fmt.Errorf("applied %d, want %d (%v)", st.AppliedIndex, lst.AppliedIndex, err)
		}
		return nil
	})

	// The watcher waits a second before it reconnects: the put commits
	// meanwhile.
	watcher, err := client.New(client.Config{Endpoints: []string{fs[0].Addr, fs[1].Addr}, BackoffBase: time.Second, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer watcher.Close()
	events := make(chan flowmesh.KVEvent, 10)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(wctx, "t/ns/kv", "", 0, func(e flowmesh.KVEvent) error {
			events <- e
			return nil
		})
	}()
	time.Sleep(300 * time.Millisecond) // the watch is open on fs[0]
	fs[0].Stop()
	if _, err := writer.Put(ctx, "t/ns/kv", "k", []byte("while-away"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-events:
		if e.Key != "k" || string(e.Value) != "while-away" {
			t.Errorf("event %+v, want the put of k", e)
		}
	case err := <-done:
		t.Fatalf("watch ended: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("the change made while the watch reconnected was not delivered")
	}
}

// TestClusterPinnedClientStaysOnItsNode: a client given one follower
// follows the leader hint of the first forwarded call, while a Pinned one
// keeps calling the follower, which forwards. With the follower stopped the
// first still works and the pinned one fails, naming nothing else to try.
func TestClusterPinnedClientStaysOnItsNode(t *testing.T) {
	nodes := rpctest.StartCluster(t, 3, nil)
	leader := rpctest.Leader(t, nodes)
	f := rpctest.Followers(nodes, leader)[0]
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	follows := clusterClient(t, []string{f.Addr})
	pinned, err := client.New(client.Config{Endpoints: []string{f.Addr}, Pinned: true, MaxRetries: 2, AttemptTimeout: time.Second, BackoffMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer pinned.Close()
	if _, err := follows.CreateKVStore(ctx, "t", "ns", "kv"); err != nil {
		t.Fatal(err)
	}
	for i, c := range []*client.Client{follows, pinned} {
		if _, err := c.Put(ctx, "t/ns/kv", fmt.Sprint("k", i), []byte("v"), flowmesh.KVPutOptions{}); err != nil {
			t.Fatalf("put through the follower: %v", err)
		}
		if _, err := c.Get(ctx, "t/ns/kv", fmt.Sprint("k", i), flowmesh.WithConsistency(flowmesh.Linearizable)); err != nil {
			t.Fatalf("linearizable get through the follower: %v", err)
		}
	}
	f.Stop()
	if _, err := follows.Put(ctx, "t/ns/kv", "k0", []byte("v2"), flowmesh.KVPutOptions{}); err != nil {
		t.Errorf("the following client did not move to the leader: %v", err)
	}
	if _, err := pinned.Put(ctx, "t/ns/kv", "k1", []byte("v2"), flowmesh.KVPutOptions{}); err == nil {
		t.Error("the pinned client reached another node than its own")
	}
}
