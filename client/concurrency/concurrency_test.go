package concurrency_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	"github.com/flowmesh/flowmesh/client/concurrency"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// node is a real embedded node with a controllable clock, and the same
// node over loopback gRPC through the SDK.
type node struct {
	store  *storage.Storage
	clock  *storage.OffsetClock
	client *client.Client
}

func startNode(t *testing.T) *node {
	t.Helper()
	clock := &storage.OffsetClock{}
	cfg := storage.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Clock = clock.Now
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(rpc.Config{Logger: cfg.Logger, GRPCAddr: lis.Addr().String()}, s)
	go srv.Serve(lis)
	c, err := client.New(client.Config{Endpoints: []string{lis.Addr().String()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return &node{store: s, clock: clock, client: c}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSession(t *testing.T, kv concurrency.KV, path string) *concurrency.Session {
	t.Helper()
	s, err := concurrency.NewSession(kv, path, concurrency.WithTTL(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestLockHandOver runs on the embedded node and through the SDK: a second
// session waits for the first's unlock, and its token is greater.
func TestLockHandOver(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t)
	if _, err := n.client.CreateKVStore(ctx, "t1", "ns", "locks"); err != nil {
		t.Fatal(err)
	}
	embedded := n.store.KVManager().(concurrency.KV)
	for name, kv := range map[string]concurrency.KV{"embedded": embedded, "client": n.client} {
		t.Run(name, func(t *testing.T) {
			a, b := newSession(t, kv, "t1/ns/locks"), newSession(t, kv, "t1/ns/locks")
			ma, mb := concurrency.NewMutex(a, name), concurrency.NewMutex(b, name)
			if err := ma.Lock(ctx); err != nil {
				t.Fatal(err)
			}
			if err := mb.TryLock(ctx); !errors.Is(err, concurrency.ErrLocked) {
				t.Fatalf("TryLock of a held lock: %v, want ErrLocked", err)
			}
			got := make(chan error, 1)
			go func() { got <- mb.Lock(ctx) }()
			select {
			case err := <-got:
				t.Fatalf("Lock returned %v while the lock was held", err)
			case <-time.After(100 * time.Millisecond): // only to give it a chance to be wrong
			}
			tokenA := ma.Token()
			if err := ma.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-got; err != nil {
				t.Fatal(err)
			}
			if mb.Token() <= tokenA {
				t.Fatalf("token after hand-over %d, want > %d", mb.Token(), tokenA)
			}
			e, err := kv.Get(ctx, "t1/ns/locks", name)
			if err != nil || string(e.Value) != b.ID() || e.CreateRevision != mb.Token() {
				t.Fatalf("lock key = %+v, %v; want session %s at create revision %d", e, err, b.ID(), mb.Token())
			}
			if err := mb.Unlock(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFencingRefusesStaleHolder: a holder that pauses past the TTL loses
// the lock to another; its writes under IsOwner are refused, the new
// holder's accepted, and the watch sees put, expire, put, delete.
func TestFencingRefusesStaleHolder(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t)
	c := n.client
	for _, name := range []string{"locks", "state"} {
		if _, err := c.CreateKVStore(ctx, "t1", "ns", name); err != nil {
			t.Fatal(err)
		}
	}
	start, err := c.Get(ctx, "t1/ns/locks", "x")
	if !errors.Is(err, flowmesh.ErrNotFound) {
		t.Fatalf("Get: %+v %v", start, err)
	}
	events := make(chan flowmesh.KVEvent, 16)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	rev0, err := c.Put(ctx, "t1/ns/state", "v", []byte("init"), flowmesh.KVPutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go c.Watch(wctx, "t1/ns/locks", "leader", rev0, func(ev flowmesh.KVEvent) error { events <- ev; return nil })

	a, b := newSession(t, c, "t1/ns/locks"), newSession(t, c, "t1/ns/locks")
	ma, mb := concurrency.NewMutex(a, "leader"), concurrency.NewMutex(b, "leader")
	if err := ma.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(m *concurrency.Mutex, v string) bool {
		t.Helper()
		res, err := c.Txn(ctx, flowmesh.Txn{Compares: []flowmesh.TxnCompare{m.IsOwner()},
			Then: []flowmesh.TxnOp{flowmesh.OpPut("t1/ns/state", "v", []byte(v), 0)}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Succeeded
	}
	if !write(ma, "by-a") {
		t.Fatal("the holder's fenced write was refused")
	}
	// A pauses (no keep-alive) past its TTL: the leader expires its key.
	n.clock.Advance(time.Minute)
	if err := mb.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if mb.Token() <= ma.Token() {
		t.Fatalf("new token %d, stale %d: tokens must grow", mb.Token(), ma.Token())
	}
	if write(ma, "stale-a") {
		t.Fatal("the stale holder's fenced write was accepted")
	}
	if !write(mb, "by-b") {
		t.Fatal("the new holder's fenced write was refused")
	}
	if e, _ := c.Get(ctx, "t1/ns/state", "v"); string(e.Value) != "by-b" {
		t.Fatalf("state = %q, want by-b", e.Value)
	}
	// A finds out: its keep-alive ends the session, its unlock says lost.
	if err := a.Refresh(ctx); !errors.Is(err, concurrency.ErrLost) {
		t.Fatalf("Refresh of a lost lock: %v, want ErrLost", err)
	}
	select {
	case <-a.Done():
	default:
		t.Fatal("the session that lost its lock is not done")
	}
	if err := ma.Unlock(ctx); !errors.Is(err, concurrency.ErrLost) {
		t.Fatalf("Unlock of a lost lock: %v, want ErrLost", err)
	}
	if err := mb.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	var seen []flowmesh.KVEventType
	for len(seen) < 4 {
		select {
		case ev := <-events:
			seen = append(seen, ev.Type)
		case <-ctx.Done():
			t.Fatalf("watch saw %v, want put, expire, put, delete", seen)
		}
	}
	want := []flowmesh.KVEventType{flowmesh.KVEventPut, flowmesh.KVEventExpire, flowmesh.KVEventPut, flowmesh.KVEventDelete}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("watch saw %v, want %v", seen, want)
		}
	}
}

// TestSameSessionSameKey: a second Mutex of the session on a key it holds
// takes it at once with the same token, as in etcd; after Unlock the
// session's keep-alive has nothing to refresh and stays alive.
func TestSameSessionSameKey(t *testing.T) {
	n := startNode(t)
	ctx := ctxFor(t)
	if _, err := n.client.CreateKVStore(ctx, "t1", "ns", "locks"); err != nil {
		t.Fatal(err)
	}
	s := newSession(t, n.client, "t1/ns/locks")
	m1, m2 := concurrency.NewMutex(s, "k"), concurrency.NewMutex(s, "k")
	if err := m1.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m2.TryLock(ctx); err != nil || m2.Token() != m1.Token() {
		t.Fatalf("second mutex of the session: %v, token %d; want the lock with token %d", err, m2.Token(), m1.Token())
	}
	if err := m1.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after Unlock: %v", err)
	}
	select {
	case <-s.Done():
		t.Fatal("the session ended after an Unlock")
	default:
	}
}
