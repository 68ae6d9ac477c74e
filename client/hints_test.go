package client_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// TestLeaderHintsMetadata checks what the leader receives: the first call,
// made to a follower, arrives forwarded; once the client learnt the leader
// from the forwarded call's header, calls arrive direct, with the caller's
// own outgoing metadata kept alongside.
func TestLeaderHintsMetadata(t *testing.T) {
	value := []byte("v")
	lkv, leader, fkv, follower := serveStubPair(t, value, true)
	c, err := client.New(client.Config{Endpoints: []string{follower, leader}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := ctxFor(t)
	last := func(kv *stubKV) metadata.MD {
		if p := kv.lastMD.Load(); p != nil {
			return *p
		}
		return nil
	}
	put := func(ctx context.Context) {
		t.Helper()
		if _, err := c.Put(ctx, "t/ns/kv", "k", value, flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	put(ctx)
	if md := last(lkv); len(md.Get("flowmesh-forwarded")) == 0 || len(md.Get("flowmesh-direct")) != 0 {
		t.Fatalf("first call: leader saw %v, want it forwarded, not direct", md)
	}
	if md := last(fkv); len(md.Get("flowmesh-direct")) != 0 {
		t.Fatalf("first call: follower saw %v, want no flowmesh-direct", md)
	}

	put(ctx)
	if md := last(lkv); md.Get("flowmesh-direct")[0] != "1" || len(md.Get("flowmesh-forwarded")) != 0 {
		t.Fatalf("second call: leader saw %v, want it direct", md)
	}

	put(metadata.AppendToOutgoingContext(ctx, "x-trace", "abc"))
	if md := last(lkv); len(md.Get("flowmesh-direct")) != 1 || len(md.Get("x-trace")) != 1 || md.Get("x-trace")[0] != "abc" {
		t.Fatalf("call with the caller's metadata: leader saw %v, want flowmesh-direct and x-trace once each", md)
	}

	put(ctx)
	if md := last(lkv); len(md.Get("flowmesh-direct")) != 1 || len(md.Get("x-trace")) != 0 {
		t.Fatalf("later call: leader saw %v, want flowmesh-direct only", md)
	}
}

// TestLaterClientsStartAtTheKnownLeader: once a client of the process has
// been pointed to the leader, a new client with the same endpoints makes
// its first call direct to the leader (no forwarded call through the
// follower); a Pinned client and a client with other endpoints do not.
func TestLaterClientsStartAtTheKnownLeader(t *testing.T) {
	value := []byte("v")
	lkv, leader, fkv, follower := serveStubPair(t, value, true)
	ctx := ctxFor(t)
	firstPut := func(cfg client.Config) (followerCalls int64, direct bool) {
		t.Helper()
		c, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		before := fkv.puts.Load()
		if _, err := c.Put(ctx, "t/ns/kv", "k", value, flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
		md := *lkv.lastMD.Load()
		return fkv.puts.Load() - before, len(md.Get("flowmesh-direct")) == 1
	}

	eps := []string{follower, leader}
	if n, direct := firstPut(client.Config{Endpoints: eps}); n != 1 || direct {
		t.Fatalf("first client's first call: %d calls on the follower, direct=%v; want it forwarded by the follower", n, direct)
	}
	if n, direct := firstPut(client.Config{Endpoints: eps}); n != 0 || !direct {
		t.Fatalf("second client's first call: %d calls on the follower, direct=%v; want it direct to the leader", n, direct)
	}
	if n, direct := firstPut(client.Config{Endpoints: eps, Pinned: true}); n != 1 || direct {
		t.Fatalf("pinned client's first call: %d calls on the follower, direct=%v; want it on the follower", n, direct)
	}
	// Same nodes, another endpoint list: nothing known yet.
	if n, _ := firstPut(client.Config{Endpoints: []string{follower}}); n != 1 {
		t.Fatalf("client with other endpoints: %d calls on the follower, want 1", n)
	}
}
