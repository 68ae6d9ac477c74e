package cluster_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
	pb "github.com/flowmesh/flowmesh/rpc/flowmeshpb"
)

// putVia writes key=value through nd (forwarded to the leader if nd follows).
func putVia(ctx context.Context, nd *Node, path, key, value string) error {
	_, err := pb.NewKVServiceClient(nd.Conn()).Put(ctx, &pb.PutRequest{
		Path: path, Key: key, Value: []byte(value),
		Options: &pb.CallOptions{RequestId: "put-" + nd.ID + "-" + key},
	})
	return err
}

// writeVia appends one event with payload id through nd.
func writeVia(ctx context.Context, nd *Node, path, id string) error {
	_, err := pb.NewStreamServiceClient(nd.Conn()).WriteEvents(ctx, &pb.WriteEventsRequest{
		Path:    path,
		Events:  []*pb.StreamEvent{{Key: []byte(id), Payload: []byte(id)}},
		Options: &pb.CallOptions{RequestId: id},
	})
	return err
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestFormation: three fresh nodes with --bootstrap-expect 3 form one
// cluster; writes through any node succeed; linearizable reads on
// followers see every acknowledged write; stale reads converge.
func TestFormation(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	c := StartCluster(t, 3)
	leader := c.Leader(20 * time.Second)
	var terms []uint64
	for _, nd := range c.Nodes {
		st, err := nd.Status(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st.LeaderID != c.Nodes[leader].ID {
			t.Errorf("%s sees leader %q, want %s", nd.ID, st.LeaderID, c.Nodes[leader].ID)
		}
		terms = append(terms, st.Term)
	}
	t.Logf("leader %s, terms %v", c.Nodes[leader].ID, terms)

	ctx := withTimeout(t, 90*time.Second)
	cl := c.Client(retryingConfig())
	if _, err := cl.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateStream(ctx, "t1", "ns1", "events", 3); err != nil {
		t.Fatal(err)
	}
	const path, spath = "t1/ns1/kv", "t1/ns1/events"

	want := map[string]string{}
	var ids []string
	for i := range 30 {
		via := c.Nodes[i%3]
		k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d-%s", i, via.ID)
		if err := putVia(ctx, via, path, k, v); err != nil {
			t.Fatalf("put %s through %s: %v", k, via.ID, err)
		}
		want[k] = v
		id := fmt.Sprintf("e%02d-%s", i, via.ID)
		if err := writeVia(ctx, via, spath, id); err != nil {
			t.Fatalf("write %s through %s: %v", id, via.ID, err)
		}
		ids = append(ids, id)
		// Every follower's linearizable read sees the write just acknowledged.
		for j, nd := range c.Nodes {
			if j == leader {
				continue
			}
			e, err := nd.Client().Get(ctx, path, k)
			if err != nil {
				t.Fatalf("linearizable get %s on %s after the write through %s: %v", k, nd.ID, via.ID, err)
			}
			if string(e.Value) != v {
				t.Fatalf("linearizable get %s on %s = %q, want %q", k, nd.ID, e.Value, v)
			}
		}
	}
	waitKVConverge(t, c, path, want, 20*time.Second)
	waitStreamsConverge(t, c, spath, 3, ids, 20*time.Second)
}

// TestLeaderKillUnderWrites: SIGKILL the leader while four SDK clients
// write; a new leader takes over and writes continue; the killed node
// restarts and catches up from the log; every acknowledged write is on
// every node exactly once.
func TestLeaderKillUnderWrites(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3)
	const path = "t1/ns1/events"
	ctx := withTimeout(t, 3*time.Minute)
	if _, err := c.Client(retryingConfig()).CreateStream(ctx, "t1", "ns1", "events", 3); err != nil {
		t.Fatal(err)
	}
	var clients []*client.Client
	for range 4 {
		clients = append(clients, c.Client(retryingConfig()))
	}
	l := startLoad(t, clients, path)
	l.waitAcked(t, time.Time{}, 200, 30*time.Second)

	old := c.Leader(10 * time.Second)
	killed := time.Now()
	c.Nodes[old].Kill()
	t.Logf("killed leader %s", c.Nodes[old].ID)
	now := c.Leader(20 * time.Second)
	if now == old {
		t.Fatalf("leader is still the killed %s", c.Nodes[old].ID)
	}
	l.waitAcked(t, killed, 1, 20*time.Second)
	total, after := l.acked(killed)
	t.Logf("new leader %s; %d writes acknowledged, %d after the kill", c.Nodes[now].ID, total, after)
	l.waitAcked(t, killed, 200, 30*time.Second)

	// The killed node restarts while the writes go on, and catches up.
	c.Nodes[old].Start()
	c.Nodes[old].WaitReady(60 * time.Second)
	l.waitAcked(t, time.Now(), 100, 30*time.Second)
	l.finish()
	if errs := l.errors(); len(errs) > 0 {
		t.Logf("%d errors reached the callers (each retried with its request ID), first: %v", len(errs), errs[0])
	}
	ids := l.ids()
	waitStreamsConverge(t, c, path, 3, ids, 60*time.Second)
	t.Logf("%d acknowledged writes present exactly once on all %d nodes", len(ids), len(c.Running()))
}

// TestCatchUpFromSnapshot: a killed follower restarts and catches up from
// the log; killed again while the others write past their snapshot
// threshold and compact their logs, it restarts and is sent a snapshot.
//
// With a --snapshot-threshold flag on flowmesh-node the cluster snapshots
// after 64 entries; without one it takes the defaults (16384 entries,
// 20480 kept after a snapshot), so the test writes until the log holds
// 22000 entries. Raft checks the threshold every 30-60 s (a
// --snapshot-interval flag, if there is one, shortens that), so the test
// then waits up to 150 s for the others to compact their logs.
func TestCatchUpFromSnapshot(t *testing.T) {
	slow(t)
	var flags []string
	entries, wait := 22000, 150*time.Second
	if nodeHasFlag("snapshot-threshold") {
		flags = append(flags, "--snapshot-threshold", "64")
		entries = 600
		if nodeHasFlag("snapshot-interval") {
			flags = append(flags, "--snapshot-interval", "500ms")
		}
	}
	c := StartCluster(t, 3, flags...)
	ctx := withTimeout(t, 5*time.Minute)
	cl := c.Client(retryingConfig())
	const path = "t1/ns1/kv"
	if _, err := cl.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	leader := c.Nodes[c.Leader(10*time.Second)]
	down := c.Nodes[(slices.Index(c.Nodes, leader)+1)%3]
	want := map[string]string{}
	// put writes keys [from, to) from 4 writers, each put its own log entry
	// unless the leader's group commit coalesces concurrent ones. Keys cycle
	// through 1000 names, so the state stays small while the log grows.
	put := func(from, to int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := from + w; i < to; i += 4 {
					k, v := fmt.Sprintf("k%03d", i%1000), fmt.Sprint(i)
					if _, err := cl.Put(ctx, path, k, []byte(v), flowmesh.KVPutOptions{}, flowmesh.WithRequestID("p"+v)); err != nil {
						errs <- fmt.Errorf("put %s=%s: %w", k, v, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		// Keys i and i+1000 belong to the same writer (1000 % 4 == 0), which
		// writes them in order: the highest i is each key's value.
		for i := from; i < to; i++ {
			want[fmt.Sprintf("k%03d", i%1000)] = fmt.Sprint(i)
		}
	}
	put(0, 50)
	waitKVConverge(t, c, path, want, 20*time.Second)

	// From the log: down misses a few entries only.
	down.Kill()
	put(50, 100)
	down.Start()
	down.WaitReady(60 * time.Second)
	waitKVConverge(t, c, path, want, 30*time.Second)
	if down.LogContains("Installed remote snapshot") {
		t.Fatalf("%s installed a snapshot where the log would do", down.ID)
	}

	// From a snapshot: down misses more than the others keep. Concurrent
	// puts may share a log entry, so write until the log is long enough.
	down.Kill()
	start := time.Now()
	next := 100
	for {
		put(next, next+1000)
		next += 1000
		st, err := leader.Status(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if st.CommitIndex >= uint64(entries) {
			t.Logf("%d puts, %d log entries in %v", next-100, st.CommitIndex, time.Since(start).Round(time.Millisecond))
			break
		}
	}
	for _, nd := range c.Running() {
		eventually(t, wait, nd.ID+" compacts its log", func() error {
			if !nd.LogContains("compacting logs") {
				return errNotYet
			}
			return nil
		})
	}
	// /readyz says ready only once down has applied the leader's index:
	// its own commit index stops at its last log entry, far behind. The
	// leader's index reaches down through gossip, so wait until another
	// node sees it there first.
	lst, err := leader.Status(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other := c.Nodes[(slices.Index(c.Nodes, leader)+2)%3]
	eventually(t, 60*time.Second, "the leader's applied index in gossip", func() error {
		ms, err := other.Client().Members(ctx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID == leader.ID && m.AppliedIndex >= lst.AppliedIndex {
				return nil
			}
		}
		return fmt.Errorf("%s does not see %s gossip applied %d yet", other.ID, leader.ID, lst.AppliedIndex)
	})
	down.Start()
	down.WaitReady(90 * time.Second)
	if st, err := down.Status(5 * time.Second); err != nil {
		t.Fatal(err)
	} else if st.AppliedIndex < lst.AppliedIndex || !st.Ready {
		t.Errorf("%s: /readyz 200 at applied %d (ready %v: %s), the leader had applied %d before it started", down.ID, st.AppliedIndex, st.Ready, st.NotReadyReason, lst.AppliedIndex)
	}
	waitKVConverge(t, c, path, want, 60*time.Second)
	if !down.LogContains("Installed remote snapshot") {
		t.Errorf("%s caught up without installing a snapshot from the leader", down.ID)
	}
	put(next, next+100)
	waitKVConverge(t, c, path, want, 30*time.Second)
}

// TestMinorityPartition: with one of three nodes paused the majority goes
// on; with two paused the one left (the leader) serves no write and no
// linearizable read; resumed, the cluster works again.
func TestMinorityPartition(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3)
	ctx := withTimeout(t, 2*time.Minute)
	cl := c.Client(retryingConfig())
	const path = "t1/ns1/kv"
	if _, err := cl.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	leader := c.Nodes[c.Leader(10*time.Second)]
	var followers []*Node
	for _, nd := range c.Nodes {
		if nd != leader {
			followers = append(followers, nd)
		}
	}

	followers[0].Pause()
	// The majority's client lists only the two running nodes: the SDK has
	// no per-attempt timeout, so a call it sends to the frozen node waits
	// for the caller's deadline (or the 40 s keepalive) before moving on.
	majority := c.Client(client.Config{Endpoints: []string{leader.GRPCAddr, followers[1].GRPCAddr}, MaxRetries: 1000, BackoffMax: 200 * time.Millisecond})
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, err := majority.Put(wctx, path, "a", []byte("1"), flowmesh.KVPutOptions{})
	cancel()
	if err != nil {
		t.Fatalf("put with one of three paused: %v", err)
	}
	if e, err := leader.Client().Get(ctx, path, "a"); err != nil || string(e.Value) != "1" {
		t.Fatalf("linearizable get with one of three paused = %q, %v", e.Value, err)
	}

	followers[1].Pause()
	alone := c.Client(client.Config{Endpoints: []string{leader.GRPCAddr}, MaxRetries: 1000, BackoffMax: 200 * time.Millisecond})
	const deadline = 5 * time.Second
	for _, op := range []struct {
		name string
		do   func(context.Context) error
	}{
		{"put", func(ctx context.Context) error {
			_, err := alone.Put(ctx, path, "b", []byte("2"), flowmesh.KVPutOptions{}, flowmesh.WithRequestID("minority-b"))
			return err
		}},
		{"linearizable get", func(ctx context.Context) error {
			_, err := alone.Get(ctx, path, "a")
			return err
		}},
	} {
		start := time.Now()
		octx, cancel := context.WithTimeout(ctx, deadline)
		err := op.do(octx)
		cancel()
		if err == nil {
			t.Errorf("%s on %s with two of three paused succeeded", op.name, leader.ID)
		} else if took := time.Since(start); took > deadline+2*time.Second {
			t.Errorf("%s on %s took %v to fail, deadline %v", op.name, leader.ID, took, deadline)
		} else {
			t.Logf("%s alone failed after %v: %v", op.name, time.Since(start).Round(time.Millisecond), err)
		}
	}
	// A stale read is still served from local state.
	if e, err := leader.Client().Get(ctx, path, "a", flowmesh.WithConsistency(flowmesh.Stale)); err != nil || string(e.Value) != "1" {
		t.Errorf("stale get alone = %q, %v", e.Value, err)
	}

	followers[0].Resume()
	followers[1].Resume()
	wctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := cl.Put(wctx, path, "c", []byte("3"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after resume: %v", err)
	}
	for _, nd := range c.Nodes {
		eventually(t, 20*time.Second, nd.ID+" sees a and c", func() error {
			got, err := kvContents(nd, path)
			if err != nil {
				return err
			}
			if got["a"] != "1" || got["c"] != "3" {
				return fmt.Errorf("%v", got)
			}
			return nil
		})
	}
}

// TestRollingRestartUnderLoad: each node in turn gets SIGTERM and starts
// again while SDK clients write; no error reaches a caller, and every
// write is on every node exactly once.
func TestRollingRestartUnderLoad(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3)
	const path = "t1/ns1/events"
	ctx := withTimeout(t, 4*time.Minute)
	if _, err := c.Client(retryingConfig()).CreateStream(ctx, "t1", "ns1", "events", 2); err != nil {
		t.Fatal(err)
	}
	clients := []*client.Client{c.Client(retryingConfig()), c.Client(retryingConfig()), c.Client(retryingConfig())}
	l := startLoad(t, clients, path)
	l.waitAcked(t, time.Time{}, 100, 30*time.Second)
	for _, nd := range c.Nodes {
		st, _ := nd.Status(2 * time.Second)
		t.Logf("restarting %s (%s)", nd.ID, st.Role)
		nd.Stop()
		l.waitAcked(t, time.Now(), 200, 30*time.Second)
		nd.Start()
		nd.WaitReady(60 * time.Second)
		c.Leader(20 * time.Second)
		l.waitAcked(t, time.Now(), 200, 30*time.Second)
	}
	total, _ := l.acked(time.Time{})
	t.Logf("%d writes acknowledged across the rolling restart", total)
	l.finish()
	if errs := l.errors(); len(errs) > 0 {
		t.Errorf("%d errors reached SDK callers during the rolling restart; first: %v", len(errs), errs[0])
	}
	waitStreamsConverge(t, c, path, 2, l.ids(), 60*time.Second)
}

// member returns the member id as the running nodes' leader reports it.
func member(c *Cluster, id string) (client.Member, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var eps []string
	for _, nd := range c.Running() {
		eps = append(eps, nd.GRPCAddr)
	}
	cl, err := client.New(c.Config(client.Config{Endpoints: eps, MaxRetries: 3}))
	if err != nil {
		return client.Member{}, false, err
	}
	defer cl.Close()
	ms, err := cl.Members(ctx)
	if err != nil {
		return client.Member{}, false, err
	}
	for _, m := range ms {
		if m.ID == id {
			return m, true, nil
		}
	}
	return client.Member{}, false, nil
}

// TestMembershipChanges: a fourth node joins and becomes a voter; a node
// leaves gracefully; a dead node is removed by the operator (the CLI's
// remove-peer) and a fifth node takes its place; a voter whose data was
// wiped comes back under its ID and address and catches up.
func TestMembershipChanges(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3, "--leave-on-terminate")
	ctx := withTimeout(t, 4*time.Minute)
	cl := c.Client(retryingConfig())
	const path = "t1/ns1/kv"
	if _, err := cl.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	n := 0
	put := func(count int) {
		t.Helper()
		for range count {
			k := fmt.Sprintf("k%04d", n)
			n++
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			_, err := cl.Put(wctx, path, k, []byte(k), flowmesh.KVPutOptions{}, flowmesh.WithRequestID(k))
			cancel()
			if err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
			want[k] = k
		}
	}
	// waitVoter waits until id is an alive voter; waitGone until it is out
	// of the raft configuration.
	waitVoter := func(id string) {
		t.Helper()
		eventually(t, 45*time.Second, id+" is an alive voter", func() error {
			m, ok, err := member(c, id)
			if err != nil {
				return err
			}
			if !ok || !m.InConfig || !m.Voter || m.Status != "alive" {
				return fmt.Errorf("%+v (listed %v)", m, ok)
			}
			return nil
		})
	}
	waitGone := func(id string) {
		t.Helper()
		eventually(t, 45*time.Second, id+" out of the raft configuration", func() error {
			m, ok, err := member(c, id)
			if err != nil {
				return err
			}
			if ok && m.InConfig {
				return fmt.Errorf("%+v", m)
			}
			return nil
		})
	}
	put(20)

	// Join a fourth node.
	n4 := c.AddNode("--leave-on-terminate")
	waitVoter(n4.ID)
	put(20)
	waitKVConverge(t, c, path, want, 30*time.Second)

	// node2 leaves gracefully (SIGTERM with --leave-on-terminate).
	n2 := c.Nodes[1]
	n2.Stop()
	waitGone(n2.ID)
	put(20)

	// node3 dies; the operator removes it.
	n3 := c.Nodes[2]
	n3.Kill()
	put(5) // node1 and node4 of three voters: still a quorum
	if out, err := c.CLI("cluster", "remove-peer", n3.ID); err != nil {
		t.Fatalf("cluster remove-peer %s: %v\n%s", n3.ID, err, out)
	}
	waitGone(n3.ID)
	put(20)

	// A fresh node replaces node3. (node3 itself could not come back under
	// its ID for a minute: the leader does not re-add a server the operator
	// removed while gossip still reports it, cluster/doc.go.)
	n5 := c.AddNode("--leave-on-terminate")
	waitVoter(n5.ID)
	put(20)
	waitKVConverge(t, c, path, want, 30*time.Second)

	// node4, a voter, loses its data and is replaced in place.
	n4.Kill()
	n4.WipeData()
	put(5)
	n4.Start()
	n4.WaitReady(60 * time.Second)
	waitVoter(n4.ID)
	put(20)
	waitKVConverge(t, c, path, want, 60*time.Second)
	out, _ := c.CLI("cluster", "members")
	t.Logf("members at the end:\n%s", out)
}

// TestShutdownTimeoutBoundsStop: a leader whose followers stopped answering
// has raft replication calls hanging on them (up to the transport's 10 s
// timeout), and raft's shutdown waits for those. SIGTERM must still end the
// process within --shutdown-timeout per phase (gRPC, HTTP, storage), not
// when the calls time out.
func TestShutdownTimeoutBoundsStop(t *testing.T) {
	slow(t)
	c := StartCluster(t, 3, "--shutdown-timeout", "1s")
	leader := c.Nodes[c.Leader(10*time.Second)]
	for _, nd := range c.Nodes {
		if nd != leader {
			nd.Pause()
		}
	}
	time.Sleep(time.Second) // heartbeats and appends are now waiting on the paused nodes
	start := time.Now()
	if !leader.signal(syscall.SIGTERM) {
		t.Fatalf("%s is not running", leader.ID)
	}
	// Three phases of at most 1 s each, plus start-up slack on a loaded machine;
	// raft's own wait would be about 10 s.
	const bound = 7 * time.Second
	if !leader.waitExit(bound) {
		t.Fatalf("%s did not exit within %v of SIGTERM with --shutdown-timeout 1s", leader.ID, bound)
	}
	t.Logf("%s exited %v after SIGTERM", leader.ID, time.Since(start).Round(time.Millisecond))
}
