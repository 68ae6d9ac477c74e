package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ManageConfig configures Manage: bootstrap-expect and the leader's
// reconciliation of gossip membership with the raft configuration.
type ManageConfig struct {
	// BootstrapExpect > 1 bootstraps a fresh node once exactly that many
	// alive members with the same value and no raft state are visible.
	// 0 or 1 leaves bootstrapping to Config.Bootstrap.
	BootstrapExpect int
	// DeadServerCleanup removes members gossip reports dead from the raft
	// configuration, one per pass, never leaving fewer voters than a quorum
	// of the configuration.
	DeadServerCleanup bool
	// ReconcileInterval is the period of the leader's full pass (default 2s);
	// membership changes trigger a pass at once.
	ReconcileInterval time.Duration
	// A non-voter is promoted once its gossiped applied index has been within
	// PromoteLag of the leader's commit index for PromoteStable
	// (defaults 256 entries and 2s).
	PromoteLag    uint64
	PromoteStable time.Duration
	// BootstrapSettle is how long a bootstrap-expect plan must stay the
	// same before this node bootstraps (default 1s).
	BootstrapSettle time.Duration
}

// tombstoneFor is how long a server removed by the operator is not added
// back while gossip still reports it alive.
const tombstoneFor = time.Minute

// manager is the state of Manage on a Cluster.
type manager struct {
	mu         sync.Mutex
	m          *Membership
	cfg        ManageConfig
	caughtUp   map[string]time.Time // non-voter ID -> caught up since
	tombstones map[string]time.Time // removed by the operator at
}

// Manage runs bootstrap-expect and, while this node leads, reconciliation
// of m's members with the raft configuration, until Shutdown. Call it once,
// right after New.
func (c *Cluster) Manage(m *Membership, cfg ManageConfig) {
	if cfg.ReconcileInterval <= 0 {
		cfg.ReconcileInterval = 2 * time.Second
	}
	if cfg.PromoteLag == 0 {
		cfg.PromoteLag = 256
	}
	if cfg.PromoteStable <= 0 {
		cfg.PromoteStable = 2 * time.Second
	}
	if cfg.BootstrapSettle <= 0 {
		cfg.BootstrapSettle = time.Second
	}
	c.mgr.mu.Lock()
	c.mgr.m, c.mgr.cfg = m, cfg
	c.mgr.caughtUp = map[string]time.Time{}
	c.mgr.tombstones = map[string]time.Time{}
	c.mgr.mu.Unlock()
	leaderCh := c.LeaderCh()
	c.goFunc(func() { c.runManage(m, cfg, leaderCh) })
}

// Membership returns the gossip membership given to Manage, or nil.
func (c *Cluster) Membership() *Membership {
	c.mgr.mu.Lock()
	defer c.mgr.mu.Unlock()
	return c.mgr.m
}

// Forget keeps the reconciler from adding id back for a while after an
// operator removed it.
func (c *Cluster) Forget(id string) {
	c.mgr.mu.Lock()
	defer c.mgr.mu.Unlock()
	if c.mgr.tombstones != nil {
		c.mgr.tombstones[id] = time.Now()
	}
}

func (c *Cluster) runManage(m *Membership, cfg ManageConfig, leaderCh <-chan bool) {
	bootstrapping := cfg.BootstrapExpect > 1 && !c.HasState()
	if bootstrapping {
		c.logger.Info("waiting for bootstrap-expect members", "expect", cfg.BootstrapExpect)
	}
	settle := bootstrapSettle{wait: cfg.BootstrapSettle}
	poll := time.NewTicker(200 * time.Millisecond)
	defer poll.Stop()
	full := time.NewTicker(cfg.ReconcileInterval)
	defer full.Stop()
	leader := false
	lastWhy := ""
	for {
		trigger := false
		select {
		case <-c.closing:
			return
		case leader = <-leaderCh:
			trigger = leader
		case <-m.Changes():
			trigger = true
		case <-full.C:
			trigger = true
		case <-poll.C:
			// Promotion waits on time, so poll while a non-voter waits.
			trigger = bootstrapping || c.promotionPending() || c.ClusterID() == ""
		}
		if !trigger {
			continue
		}
		if bootstrapping {
			if c.HasState() {
				bootstrapping = false
				continue
			}
			servers, why := bootstrapPlan(cfg.BootstrapExpect, m.Members())
			if servers == nil {
				settle.reset()
				if why != lastWhy {
					c.logger.Info("not bootstrapping yet", "reason", why)
					lastWhy = why
				}
				continue
			}
			if !settle.ready(servers, time.Now()) {
				continue
			}
			c.logger.Info("bootstrapping cluster", "servers", servers)
			err := c.BootstrapServers(servers)
			if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				c.logger.Error("bootstrap failed", "err", err)
				continue
			}
			bootstrapping = false
			m.RefreshMeta() // tell late starters at once that we have state now
			continue
		}
		// A node knows its cluster ID before it admits anyone.
		known := c.ClusterID() != ""
		if !c.learnClusterID(m) {
			continue
		}
		if !known {
			m.RefreshMeta()
		}
		if leader && c.IsLeader() {
			c.reconcile()
		}
	}
}

func (c *Cluster) promotionPending() bool {
	c.mgr.mu.Lock()
	defer c.mgr.mu.Unlock()
	return len(c.mgr.caughtUp) > 0
}

// bootstrapPlan returns the configuration to bootstrap with, or nil and why
// not. Every fresh node computes it from the same gossip view, so they agree:
// exactly expect alive members, all with the same expect value and none with
// raft state, all voters, sorted by ID.
// bootstrapSettle holds a bootstrap plan back until the same plan has been
// seen for wait. Servers that bootstrapped a moment ago gossip their raft
// state within milliseconds (RefreshMeta), but a node that starts just then
// may see them as fresh servers first, and even a partial view of them
// (memberlist merges a peer's member list before the peer itself): without
// the wait it could bootstrap a second cluster of itself and some of them.
type bootstrapSettle struct {
	wait  time.Duration
	plan  []Server
	since time.Time
}

func (b *bootstrapSettle) reset() { b.plan = nil }

// ready reports whether plan has been the plan for at least b.wait.
func (b *bootstrapSettle) ready(plan []Server, now time.Time) bool {
	if !slices.Equal(plan, b.plan) {
		b.plan, b.since = plan, now
	}
	return now.Sub(b.since) >= b.wait
}

func bootstrapPlan(expect int, members []Member) ([]Server, string) {
	var servers []Server
	for _, mb := range members {
		if mb.Status != StatusAlive {
			continue
		}
		if mb.HasState {
			return nil, fmt.Sprintf("member %s has raft state: waiting to be added to its cluster", mb.ID)
		}
		if mb.Expect != expect {
			return nil, fmt.Sprintf("member %s has bootstrap-expect %d, not %d", mb.ID, mb.Expect, expect)
		}
		if mb.RaftAddr == "" {
			return nil, fmt.Sprintf("member %s gossips no raft address", mb.ID)
		}
		servers = append(servers, Server{ID: mb.ID, Address: mb.RaftAddr, Voter: true})
	}
	switch {
	case len(servers) < expect:
		return nil, fmt.Sprintf("%d of %d expected members visible", len(servers), expect)
	case len(servers) > expect:
		return nil, fmt.Sprintf("%d fresh members visible, more than the %d expected: refusing to guess", len(servers), expect)
	}
	sort.Slice(servers, func(i, j int) bool { return servers[i].ID < servers[j].ID })
	return servers, ""
}

// Reconciliation actions.
const (
	actAddNonvoter = "add-nonvoter"
	actPromote     = "promote"
	actReaddress   = "readdress"
	actRemove      = "remove"
)

type action struct {
	kind, id, addr string
	voter          bool // for actReaddress: keep it a voter
	why            string
}

// reconcileInput is one pass's view.
type reconcileInput struct {
	self       string
	clusterID  string // this cluster's ID
	servers    []Server
	members    []Member
	commit     uint64
	now        time.Time
	cfg        ManageConfig
	caughtUp   map[string]time.Time // updated in place
	tombstones map[string]time.Time
}

// planReconcile decides the raft configuration changes for one pass. It is
// pure apart from updating in.caughtUp.
func planReconcile(in reconcileInput) []action {
	inConf := map[string]Server{}
	voters := 0
	for _, s := range in.servers {
		inConf[s.ID] = s
		if s.Voter {
			voters++
		}
	}
	var removes, readdr, adds, promos []action
	deadVoterRemoved := false
	seen := map[string]bool{}
	for _, mb := range in.members {
		seen[mb.ID] = true
		if mb.ID == in.self {
			continue
		}
		s, ok := inConf[mb.ID]
		switch mb.Status {
		case StatusAlive, StatusSuspect:
			if !ok {
				delete(in.caughtUp, mb.ID)
				if foreignCluster(in.clusterID, mb.ClusterID, mb.ID) != "" {
					continue // another cluster's node: never ours to add
				}
				if t, dead := in.tombstones[mb.ID]; dead && in.now.Sub(t) < tombstoneFor {
					continue
				}
				if mb.Status == StatusAlive && mb.RaftAddr != "" {
					adds = append(adds, action{kind: actAddNonvoter, id: mb.ID, addr: mb.RaftAddr, why: "new member"})
				}
				continue
			}
			if mb.RaftAddr != "" && mb.RaftAddr != s.Address && mb.Status == StatusAlive {
				readdr = append(readdr, action{kind: actReaddress, id: mb.ID, addr: mb.RaftAddr, voter: s.Voter, why: "raft address changed from " + s.Address})
				continue
			}
			if s.Voter {
				delete(in.caughtUp, mb.ID)
				continue
			}
			// Caught up means within PromoteLag below the commit index; a node
			// reporting more than the leader has committed holds another
			// history (another cluster's log) and is never promoted.
			if mb.Status == StatusAlive && mb.AppliedIndex > 0 && mb.AppliedIndex+in.cfg.PromoteLag >= in.commit && mb.AppliedIndex <= in.commit {
				since := in.caughtUp[mb.ID]
				if since.IsZero() {
					in.caughtUp[mb.ID], since = in.now, in.now
				}
				if in.now.Sub(since) >= in.cfg.PromoteStable {
					promos = append(promos, action{kind: actPromote, id: mb.ID, addr: s.Address, why: fmt.Sprintf("caught up (applied %d, commit %d)", mb.AppliedIndex, in.commit)})
				}
			} else {
				// Not caught up (or not reporting yet): start over. The zero
				// time keeps the manager polling while it is a non-voter.
				in.caughtUp[mb.ID] = time.Time{}
			}
		case StatusLeft:
			delete(in.caughtUp, mb.ID)
			if ok {
				removes = append(removes, action{kind: actRemove, id: mb.ID, why: "left"})
			}
		case StatusDead:
			delete(in.caughtUp, mb.ID)
			if !ok || !in.cfg.DeadServerCleanup {
				continue
			}
			if !s.Voter {
				removes = append(removes, action{kind: actRemove, id: mb.ID, why: "dead non-voter (dead-server cleanup)"})
				continue
			}
			if deadVoterRemoved || voters-1 < voters/2+1 {
				continue // would leave fewer voters than a quorum of the configuration
			}
			deadVoterRemoved = true
			removes = append(removes, action{kind: actRemove, id: mb.ID, why: "dead voter (dead-server cleanup)"})
		}
	}
	for id := range in.caughtUp {
		if !seen[id] {
			delete(in.caughtUp, id)
		}
	}
	out := append(removes, readdr...)
	out = append(out, adds...)
	return append(out, promos...)
}

// authenticatePeer checks, with peer TLS, that the server an action adds,
// re-addresses or promotes answers its raft address with a certificate of
// the peer CA: a host that has the gossip key but no peer certificate
// gossips, and could claim to be caught up, but never enters the raft
// configuration, where an unreachable voter would cost a quorum.
func (c *Cluster) authenticatePeer(a action) error {
	if c.probePeer == nil || a.kind == actRemove {
		return nil
	}
	return c.probePeer(a.addr)
}

// reconcile runs one pass on the leader.
func (c *Cluster) reconcile() {
	c.mgr.mu.Lock()
	m, cfg := c.mgr.m, c.mgr.cfg
	c.mgr.mu.Unlock()
	servers, err := c.Servers()
	if err != nil {
		return
	}
	in := reconcileInput{
		self: c.cfg.ID, clusterID: c.ClusterID(), servers: servers, members: m.Members(), commit: c.raft.CommitIndex(),
		now: time.Now(), cfg: cfg,
	}
	c.mgr.mu.Lock()
	in.caughtUp, in.tombstones = c.mgr.caughtUp, c.mgr.tombstones
	for id, t := range in.tombstones {
		if in.now.Sub(t) > tombstoneFor {
			delete(in.tombstones, id)
		}
	}
	acts := planReconcile(in)
	c.mgr.mu.Unlock()
	for _, a := range acts {
		if err := c.authenticatePeer(a); err != nil {
			c.logger.Warn("reconcile: not adding or promoting a server whose raft address fails the peer TLS handshake", "action", a.kind, "server", a.id, "addr", a.addr, "err", err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), defaultOpTimeout)
		var err error
		switch a.kind {
		case actAddNonvoter:
			err = c.AddNonvoter(ctx, a.id, a.addr)
		case actPromote:
			err = c.AddVoter(ctx, a.id, a.addr)
		case actReaddress:
			if a.voter {
				err = c.AddVoter(ctx, a.id, a.addr)
			} else {
				err = c.AddNonvoter(ctx, a.id, a.addr)
			}
		case actRemove:
			err = c.RemoveServer(ctx, a.id)
		}
		cancel()
		if err != nil {
			c.logger.Warn("reconcile: raft configuration change failed", "action", a.kind, "server", a.id, "err", err)
			return
		}
		c.logger.Info("reconcile: raft configuration changed", "action", a.kind, "server", a.id, "addr", a.addr, "reason", a.why)
		if a.kind == actPromote {
			c.mgr.mu.Lock()
			delete(c.mgr.caughtUp, a.id)
			c.mgr.mu.Unlock()
		}
	}
}
