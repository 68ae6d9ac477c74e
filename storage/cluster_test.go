package storage_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/internal/freeport"
	"github.com/flowmesh/flowmesh/storage"
)

// clusterNode is an in-process cluster member.
type clusterNode struct {
	s      *storage.Storage
	cfg    storage.Config
	id     string
	gossip string
}

// newClusterConfig returns the config of a cluster member with its own data
// dir under base and gossip on a fresh loopback port.
func newClusterConfig(t *testing.T, dir string, expect int, join []string) storage.Config {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dir
	cfg.Gossip.BindAddr = freeport.Addr(t)
	cfg.GRPCAddr = "grpc-" + filepath.Base(dir) + ":7400"
	cfg.Gossip.BootstrapExpect = expect
	cfg.Gossip.Join = join
	cfg.Logger = quietLogger()
	return *cfg
}

// startClusterNode starts a node; Start returns without waiting for a
// leader when BootstrapExpect > 1. Cleanup stops it.
func startClusterNode(t *testing.T, cfg storage.Config) *clusterNode {
	t.Helper()
	s, err := storage.NewWithConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	st, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	return &clusterNode{s: s, cfg: cfg, id: st.ID, gossip: cfg.Gossip.BindAddr}
}

// startCluster starts n fresh nodes with BootstrapExpect n, all joining
// each other, and waits for one leader with n voters.
func startCluster(t *testing.T, n int, mod func(*storage.Config)) []*clusterNode {
	t.Helper()
	base := t.TempDir()
	cfgs := make([]storage.Config, n)
	var addrs []string
	for i := range cfgs {
		cfgs[i] = newClusterConfig(t, filepath.Join(base, "n"+strconv.Itoa(i)), n, nil)
		addrs = append(addrs, cfgs[i].Gossip.BindAddr)
	}
	nodes := make([]*clusterNode, n)
	for i := range cfgs {
		cfgs[i].Gossip.Join = addrs
		if mod != nil {
			mod(&cfgs[i])
		}
		nodes[i] = startClusterNode(t, cfgs[i])
	}
	waitFor(t, 15*time.Second, "one leader with all voters", func() error {
		return checkConfig(nodes, n, 0)
	})
	return nodes
}

// checkConfig checks that every running node in nodes agrees on one leader
// and a configuration of voters voters and nonvoters non-voters.
func checkConfig(nodes []*clusterNode, voters, nonvoters int) error {
	leader := ""
	var first []cluster.Server
	for _, n := range nodes {
		st, err := n.s.Status()
		if err != nil {
			continue // stopped
		}
		if st.LeaderID == "" {
			return fmt.Errorf("%s knows no leader", n.id)
		}
		if leader == "" {
			leader = st.LeaderID
		} else if st.LeaderID != leader {
			return fmt.Errorf("leaders differ: %s and %s", leader, st.LeaderID)
		}
		v, nv := 0, 0
		for _, s := range st.Servers {
			if s.Voter {
				v++
			} else {
				nv++
			}
		}
		if v != voters || nv != nonvoters {
			return fmt.Errorf("%s: %d voters and %d non-voters, want %d and %d: %v", n.id, v, nv, voters, nonvoters, st.Servers)
		}
		if first == nil {
			first = st.Servers
		} else if fmt.Sprint(first) != fmt.Sprint(st.Servers) {
			return fmt.Errorf("configurations differ: %v and %v", first, st.Servers)
		}
	}
	return nil
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting %v for %s: %v", d, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func leaderOf(t *testing.T, nodes []*clusterNode) *clusterNode {
	t.Helper()
	for _, n := range nodes {
		if c := n.s.Cluster(); c != nil && c.IsLeader() {
			return n
		}
	}
	t.Fatal("no leader")
	return nil
}

func serverIn(t *testing.T, n *clusterNode, id string) (voter, ok bool) {
	t.Helper()
	st, err := n.s.Status()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Servers {
		if s.ID == id {
			return s.Voter, true
		}
	}
	return false, false
}

// putOnLeader creates a KV store (once) and puts key=value through the leader.
func putOnLeader(t *testing.T, leader *clusterNode, key, value string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	path := "t/ns/kv"
	if _, err := leader.s.MetaStore().GetResource(ctx, path); err != nil {
		r, err := leader.s.MetaStore().CreateKVStore(ctx, "t", "ns", "kv")
		if err != nil {
			t.Fatal(err)
		}
		path = r.GetPath()
	}
	if _, err := leader.s.KVManager().Put(ctx, path, key, []byte(value), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitStaleRead(t *testing.T, n *clusterNode, path, key, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, n.id+" reads "+key, func() error {
		e, err := n.s.KVManager().Get(context.Background(), path, key, flowmesh.WithConsistency(flowmesh.Stale))
		if err != nil {
			return err
		}
		if string(e.Value) != want {
			return fmt.Errorf("got %q, want %q", e.Value, want)
		}
		return nil
	})
}

func TestBootstrapExpectFormsOneCluster(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	path := putOnLeader(t, leader, "k", "v1")
	for _, n := range nodes {
		waitStaleRead(t, n, path, "k", "v1")
	}
	for _, n := range nodes {
		if n == leader {
			if id, addr := n.s.LeaderGRPC(); id != leader.id || addr != leader.cfg.GRPCAddr {
				t.Errorf("leader's LeaderGRPC() = %q, %q; want %q, %q", id, addr, leader.id, leader.cfg.GRPCAddr)
			}
			continue
		}
		// A follower's NotLeaderError names the leader's gRPC address.
		_, err := n.s.KVManager().Get(context.Background(), path, "k")
		var nle *flowmesh.NotLeaderError
		if !errors.As(err, &nle) {
			t.Fatalf("linearizable get on follower %s: %v, want a NotLeaderError", n.id, err)
		}
		if nle.LeaderID != leader.id || nle.LeaderAddr != leader.cfg.GRPCAddr {
			t.Errorf("NotLeaderError = {%q, %q}, want {%q, %q}", nle.LeaderID, nle.LeaderAddr, leader.id, leader.cfg.GRPCAddr)
		}
		if _, err := n.s.KVManager().Put(context.Background(), path, "k", []byte("x"), flowmesh.KVPutOptions{}); !errors.As(err, &nle) || nle.LeaderAddr != leader.cfg.GRPCAddr {
			t.Errorf("put on follower: %v, want NotLeaderError with %q", err, leader.cfg.GRPCAddr)
		}
		if id, addr := n.s.LeaderGRPC(); id != leader.id || addr != leader.cfg.GRPCAddr {
			t.Errorf("LeaderGRPC() = %q, %q; want %q, %q", id, addr, leader.id, leader.cfg.GRPCAddr)
		}
		members := n.s.Members()
		if len(members) != 3 {
			t.Fatalf("Members() = %+v, want 3", members)
		}
		for _, m := range members {
			if m.Status != cluster.StatusAlive || !m.Voter || m.Leader != (m.ID == leader.id) || m.GRPCAddr == "" || m.RaftAddr == "" {
				t.Errorf("member %+v", m)
			}
		}
	}
}

func clusterIDOf(t *testing.T, n *clusterNode) string {
	t.Helper()
	st, err := n.s.Status()
	if err != nil {
		t.Fatal(err)
	}
	return st.ClusterID
}

// TestClustersNeverMerge: nodes bootstrapped together share one cluster ID;
// a node of another cluster that joins by mistake is refused by gossip and
// never added to the raft configuration, and both clusters go on.
func TestClustersNeverMerge(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	id := clusterIDOf(t, leader)
	if len(id) != 32 {
		t.Fatalf("cluster ID %q, want 32 hex digits", id)
	}
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.id+" to know the cluster ID", func() error {
			if got := clusterIDOf(t, n); got != id {
				return fmt.Errorf("%q, want %q", got, id)
			}
			return nil
		})
	}
	path := putOnLeader(t, leader, "k", "ours")

	other := startClusterNode(t, newClusterConfig(t, t.TempDir(), 1, nil))
	waitFor(t, 10*time.Second, "the other cluster's leader", func() error {
		if st, err := other.s.Status(); err != nil || st.LeaderID != other.id || st.ClusterID == "" {
			return fmt.Errorf("%+v, %v", st, err)
		}
		return nil
	})
	if clusterIDOf(t, other) == id {
		t.Fatal("two clusters got the same ID")
	}
	otherPath := putOnLeader(t, other, "k", "theirs")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n, err := other.s.Join(ctx, []string{nodes[0].gossip}); err == nil {
		t.Errorf("a node of another cluster joined: %d answered, no error", n)
	} else if !strings.Contains(err.Error(), "cluster") {
		t.Errorf("join error %q does not say why", err)
	}
	// Several reconcile passes later nothing has merged.
	time.Sleep(2 * time.Second)
	for _, n := range nodes {
		for _, m := range n.s.Members() {
			if m.ID == other.id {
				t.Errorf("%s lists the other cluster's node: %+v", n.id, m)
			}
		}
	}
	if _, ok := serverIn(t, leader, other.id); ok {
		t.Fatal("the other cluster's node is in our raft configuration")
	}
	if err := checkConfig(nodes, 3, 0); err != nil {
		t.Fatal(err)
	}
	if st, err := other.s.Status(); err != nil || st.LeaderID != other.id || len(st.Servers) != 1 {
		t.Fatalf("the other cluster changed: %+v, %v", st, err)
	}
	waitStaleRead(t, leader, path, "k", "ours")
	waitStaleRead(t, other, otherPath, "k", "theirs")
}

func TestBootstrapExpectNeverAlone(t *testing.T) {
	t.Parallel()
	n := startClusterNode(t, newClusterConfig(t, t.TempDir(), 3, nil))
	time.Sleep(1500 * time.Millisecond)
	st, err := n.s.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderID != "" || len(st.Servers) != 0 || n.s.Cluster().HasState() {
		t.Fatalf("a lone node with BootstrapExpect 3 formed a cluster: %+v", st)
	}
}

func TestJoinLeaveRemove(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	path := putOnLeader(t, leader, "k", "v1")

	// A fourth node joins: non-voter first, then a voter once caught up.
	fourth := startClusterNode(t, newClusterConfig(t, t.TempDir(), 3, []string{nodes[0].gossip}))
	all := append(nodes, fourth)
	sawNonvoter := false
	waitFor(t, 30*time.Second, "the fourth node to become a voter", func() error {
		voter, ok := serverIn(t, leader, fourth.id)
		if ok && !voter {
			sawNonvoter = true
		}
		if !ok || !voter {
			return fmt.Errorf("in config %v, voter %v", ok, voter)
		}
		return nil
	})
	if !sawNonvoter {
		t.Log("note: the non-voter stage was shorter than the poll interval")
	}
	waitStaleRead(t, fourth, path, "k", "v1")
	// The fresh node adopted the cluster's ID.
	waitFor(t, 10*time.Second, "the fourth node to adopt the cluster ID", func() error {
		want := clusterIDOf(t, leader)
		if got := clusterIDOf(t, fourth); want == "" || got != want {
			return fmt.Errorf("cluster ID %q, leader's %q", got, want)
		}
		return nil
	})

	// A follower leaves gracefully through the remove-self hook (the rpc
	// layer makes it a gRPC call to the leader).
	var leaver *clusterNode
	for _, n := range nodes {
		if n != leader {
			leaver = n
			break
		}
	}
	leaver.s.SetRemoveSelf(func(ctx context.Context) error { return leader.s.RemovePeer(ctx, leaver.id) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := leaver.s.Leave(ctx); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if _, ok := serverIn(t, leader, leaver.id); ok {
		t.Fatalf("%s still in the configuration after Leave", leaver.id)
	}
	if err := leaver.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// It stays out: the reconciler sees it left.
	time.Sleep(500 * time.Millisecond)
	if _, ok := serverIn(t, leader, leaver.id); ok {
		t.Fatalf("%s added back after leaving", leaver.id)
	}

	// Kill a follower (no leave): it stays a voter.
	var victim *clusterNode
	for _, n := range all {
		if n != leader && n != leaver {
			victim = n
			break
		}
	}
	if err := victim.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// memberlist stretches its probe and suspicion timeouts on a node that
	// is slow to answer itself (its awareness score), which a loaded CI
	// machine can push well past the ~5 s this takes when idle.
	waitFor(t, 60*time.Second, "gossip to report the killed node dead", func() error {
		for _, m := range leader.s.Members() {
			if m.ID == victim.id && m.Status == cluster.StatusDead {
				return nil
			}
		}
		return fmt.Errorf("not dead yet: %+v", leader.s.Members())
	})
	time.Sleep(500 * time.Millisecond)
	if voter, ok := serverIn(t, leader, victim.id); !ok || !voter {
		t.Fatalf("dead node %s: in config %v, voter %v; want a voter without DeadServerCleanup", victim.id, ok, voter)
	}

	// A context of its own: the wait for gossip above may outlast the one
	// the leave used.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A follower refuses RemovePeer with the leader's address.
	for _, n := range all {
		if n != leader && n != leaver && n != victim {
			var nle *flowmesh.NotLeaderError
			if err := n.s.RemovePeer(ctx, victim.id); !errors.As(err, &nle) || nle.LeaderAddr != leader.cfg.GRPCAddr {
				t.Errorf("RemovePeer on a follower: %v, want NotLeaderError", err)
			}
		}
	}
	if err := leader.s.RemovePeer(ctx, victim.id); err != nil {
		t.Fatalf("RemovePeer: %v", err)
	}
	if _, ok := serverIn(t, leader, victim.id); ok {
		t.Fatalf("%s still in the configuration after RemovePeer", victim.id)
	}

	// The killed node's data was wiped: it comes back under a new ID at the
	// same gossip address, joins and catches up.
	cfg := victim.cfg
	cfg.DataDir = t.TempDir()
	cfg.Gossip.Join = []string{leader.gossip}
	reborn := startClusterNode(t, cfg)
	if reborn.id == victim.id {
		t.Fatalf("wiped node kept its ID %s", victim.id)
	}
	waitFor(t, 30*time.Second, "the wiped node to become a voter", func() error {
		if voter, ok := serverIn(t, leader, reborn.id); !ok || !voter {
			return fmt.Errorf("in config %v, voter %v", ok, voter)
		}
		return nil
	})
	waitStaleRead(t, reborn, path, "k", "v1")
}

func TestDeadServerCleanup(t *testing.T) {
	nodes := startCluster(t, 3, func(c *storage.Config) { c.Gossip.DeadServerCleanup = true })
	leader := leaderOf(t, nodes)
	var victim *clusterNode
	for _, n := range nodes {
		if n != leader {
			victim = n
			break
		}
	}
	if err := victim.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the dead node to be removed", func() error { // dead detection: see TestJoinLeaveRemove
		if _, ok := serverIn(t, leader, victim.id); ok {
			return errors.New("still in the configuration")
		}
		return nil
	})
	// Two voters are left: removing another would go below a quorum of the
	// configuration, and the cluster still commits writes.
	putOnLeader(t, leader, "k", "after")
	if err := checkConfig([]*clusterNode{leader}, 2, 0); err != nil {
		t.Fatal(err)
	}
}

func TestGossipKey(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef")
	cfgA := newClusterConfig(t, t.TempDir(), 1, nil)
	cfgA.Gossip.SecretKey = key
	a := startClusterNode(t, cfgA)

	intruder := startClusterNode(t, newClusterConfig(t, t.TempDir(), 3, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := intruder.s.Join(ctx, []string{a.gossip}); err == nil {
		t.Fatalf("a node without the key joined (%d contacted)", n)
	}
	cfgB := newClusterConfig(t, t.TempDir(), 3, nil)
	cfgB.Gossip.SecretKey = key
	b := startClusterNode(t, cfgB)
	if _, err := b.s.Join(ctx, []string{a.gossip}); err != nil {
		t.Fatalf("a node with the key could not join: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, m := range a.s.Members() {
		if m.ID == intruder.id {
			t.Fatalf("the node without the key is a member: %+v", m)
		}
	}
}

func TestLeaveWithoutHookAndAsLeader(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	// A follower without the remove-self hook leaves gossip; the leader
	// reconciles it out of the configuration.
	var follower *clusterNode
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	if err := follower.s.Leave(ctx); err != nil {
		st, _ := leader.s.Status()
		fst, _ := follower.s.Status()
		t.Fatalf("follower leave without hook: %v; leader's servers %v; follower's %v; leader's members %+v", err, st.Servers, fst.Servers, leader.s.Members())
	}
	if _, ok := serverIn(t, leader, follower.id); ok {
		t.Fatalf("%s still in the configuration", follower.id)
	}
	if err := follower.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// The leader leaves: it hands leadership over, then asks the new leader
	// to remove it.
	var rest *clusterNode
	for _, n := range nodes {
		if n != leader && n != follower {
			rest = n
		}
	}
	leader.s.SetRemoveSelf(func(ctx context.Context) error {
		for {
			err := rest.s.RemovePeer(ctx, leader.id)
			if !errors.Is(err, flowmesh.ErrNotLeader) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	if err := leader.s.Leave(ctx); err != nil {
		t.Fatalf("leader leave: %v", err)
	}
	if leader.s.Cluster().IsLeader() {
		t.Fatal("the node that left is still the leader")
	}
	if err := leader.s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the last node to lead alone", func() error {
		return checkConfig([]*clusterNode{rest}, 1, 0)
	})
	putOnLeader(t, rest, "k", "alone")
}

func TestRestartAtNewRaftAddress(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	leader := leaderOf(t, nodes)
	var n *clusterNode
	for _, x := range nodes {
		if x != leader {
			n = x
			break
		}
	}
	st, err := n.s.Status()
	if err != nil {
		t.Fatal(err)
	}
	var oldAddr string
	for _, s := range st.Servers {
		if s.ID == n.id {
			oldAddr = s.Address
		}
	}
	if err := n.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Same data dir and ID; its raft port is picked anew.
	again := startClusterNode(t, n.cfg)
	if again.id != n.id {
		t.Fatalf("restart changed the ID from %s to %s", n.id, again.id)
	}
	newAddr := again.s.Cluster().RaftAddr()
	if newAddr == oldAddr {
		t.Skip("the raft port happened to be reused")
	}
	waitFor(t, 15*time.Second, "the leader to update the address in place", func() error {
		st, err := leader.s.Status()
		if err != nil {
			return err
		}
		for _, s := range st.Servers {
			if s.ID == n.id {
				if s.Address != newAddr || !s.Voter {
					return fmt.Errorf("server %+v, want voter at %s", s, newAddr)
				}
				return nil
			}
		}
		return errors.New("removed from the configuration")
	})
	path := putOnLeader(t, leader, "k", "moved")
	waitStaleRead(t, again, path, "k", "moved")
}

// A join list that includes the node itself (as in the Kubernetes
// manifest, where every pod gets the same list): a node that starts first
// and reaches only itself keeps retrying until a peer is up. B's list
// reaches only B, as when the peers' DNS names do not resolve yet, so only
// A's retries can bring the two together.
func TestSharedJoinListIncludingSelf(t *testing.T) {
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	cfgA := newClusterConfig(t, dirA, 2, nil)
	cfgB := newClusterConfig(t, dirB, 2, nil)
	cfgA.Gossip.Join = []string{cfgA.Gossip.BindAddr, cfgB.Gossip.BindAddr}
	cfgB.Gossip.Join = []string{cfgB.Gossip.BindAddr}
	a := startClusterNode(t, cfgA)
	time.Sleep(500 * time.Millisecond) // A's first join reaches only itself
	b := startClusterNode(t, cfgB)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := a.s.Status()
		if err == nil && st.LeaderID != "" && len(a.s.Members()) == 2 && len(b.s.Members()) == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two-node cluster: A sees %d members, B sees %d, A status %+v (%v)", len(a.s.Members()), len(b.s.Members()), st, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A fresh node told to join (bootstrap-expect 0) waits to be added: alone,
// it never elects itself, so it can never form a second cluster.
func TestJoiningNodeNeverBootstrapsAlone(t *testing.T) {
	cfg := newClusterConfig(t, t.TempDir(), 0, []string{freeport.Addr(t)}) // nobody listens there
	n := startClusterNode(t, cfg)
	time.Sleep(3 * time.Second) // several election timeouts
	st, err := n.s.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.State == "leader" || st.LeaderID != "" || len(st.Servers) != 0 {
		t.Fatalf("a joining node bootstrapped alone: %+v", st)
	}
}
