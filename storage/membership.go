package storage

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
)

// bootstrapAlone reports whether this node bootstraps a single-voter
// cluster when it has no raft state.
func (s *Storage) bootstrapAlone() bool {
	switch {
	case s.cfg.Gossip.BootstrapExpect == 1:
		return true
	case s.cfg.Gossip.BootstrapExpect > 1:
		return false
	case s.cfg.Gossip.BindAddr != "" || len(s.cfg.Gossip.Join) > 0:
		// Expect 0 in a cluster means "wait to be added": a fresh node that
		// joins must never form a cluster of its own (it would win elections
		// against the real one and erase acknowledged writes).
		return false
	}
	return *s.cfg.Bootstrap
}

// raftAdvertise is the raft address to advertise: the AdvertiseAddr host
// with the raft port, when the raft address binds a wildcard host.
func (s *Storage) raftAdvertise() string {
	if s.cfg.AdvertiseAddr == "" {
		return ""
	}
	host, port, err := net.SplitHostPort(s.cfg.RaftAddr)
	if err != nil || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return ""
	}
	return net.JoinHostPort(advertiseHost(s.cfg.AdvertiseAddr), port)
}

func advertiseHost(a string) string {
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// gossipLocal reports whether gossip binds a loopback address, where
// memberlist's faster loopback timings apply.
func gossipLocal(addr string) bool {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func (s *Storage) startMembership(id string, c *cluster.Cluster) (*cluster.Membership, error) {
	m, err := cluster.NewMembership(cluster.MembershipConfig{
		Name:          id,
		GossipOptions: s.cfg.Gossip,
		AdvertiseAddr: s.cfg.AdvertiseAddr,
		RaftAddr:      c.RaftAddr(),
		GRPCAddr:      s.cfg.GRPCAddr,
		Version:       s.cfg.Version,
		HasState:      c.HasState,
		Applied:       c.AppliedIndex,
		IsLeader:      c.IsLeader,
		ClusterID:     c.ClusterID,
		Disk:          s.gossipDisk,
		Local:         gossipLocal(s.cfg.Gossip.BindAddr),
		Logger:        s.cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	c.Manage(m, cluster.ManageConfig{
		BootstrapExpect:   s.cfg.Gossip.BootstrapExpect,
		DeadServerCleanup: s.cfg.Gossip.DeadServerCleanup,
	})
	m.JoinBackground(s.cfg.Gossip.Join)
	return m, nil
}

// grpcAddrOf resolves a raft server ID to its gossiped gRPC address.
func (s *Storage) grpcAddrOf(id string) string {
	if m := s.members.Load(); m != nil {
		return m.GRPCAddrOf(id)
	}
	return ""
}

// Members lists the cluster's nodes: every gossip member and every server
// in the raft configuration, sorted by ID. A server that gossip does not
// know has Status "unknown". Without gossip it is this node alone.
func (s *Storage) Members() []cluster.Member {
	_, c, err := s.running()
	if err != nil {
		return nil
	}
	var members []cluster.Member
	if m := s.members.Load(); m != nil {
		members = m.Members()
	}
	servers, _ := c.Servers()
	leaderID, _ := c.Leader()
	byID := map[string]int{}
	for i := range members {
		byID[members[i].ID] = i
	}
	if _, ok := byID[c.ID()]; !ok {
		members = append(members, cluster.Member{ID: c.ID(), Status: cluster.StatusAlive, Expect: s.cfg.Gossip.BootstrapExpect, Version: s.cfg.Version, ClusterID: c.ClusterID()})
		byID[c.ID()] = len(members) - 1
	}
	for _, sv := range servers {
		i, ok := byID[sv.ID]
		if !ok {
			members = append(members, cluster.Member{ID: sv.ID, RaftAddr: sv.Address, Status: cluster.StatusUnknown})
			i = len(members) - 1
			byID[sv.ID] = i
		}
		members[i].InConfig, members[i].Voter = true, sv.Voter
	}
	for i := range members {
		mb := &members[i]
		mb.Leader = mb.ID == leaderID
		if mb.ID == c.ID() {
			mb.RaftAddr, mb.GRPCAddr = c.RaftAddr(), s.cfg.GRPCAddr
			mb.AppliedIndex, mb.HasState = c.AppliedIndex(), c.HasState()
		}
	}
	sortMembers(members)
	return members
}

func sortMembers(ms []cluster.Member) {
	for i := 1; i < len(ms); i++ {
		for j := i; j > 0 && ms[j].ID < ms[j-1].ID; j-- {
			ms[j], ms[j-1] = ms[j-1], ms[j]
		}
	}
}

// LeaderGRPC returns the leader's ID and gRPC address ("" when unknown).
func (s *Storage) LeaderGRPC() (id, addr string) {
	_, c, err := s.running()
	if err != nil {
		return "", ""
	}
	id, _ = c.Leader()
	switch {
	case id == "":
	case id == c.ID():
		addr = s.cfg.GRPCAddr
	default:
		addr = s.grpcAddrOf(id)
	}
	return id, addr
}

// ID is this node's raft server ID, "" while it is not running.
func (s *Storage) ID() string {
	_, c, err := s.running()
	if err != nil {
		return ""
	}
	return c.ID()
}

// IsLeader reports whether this node is the raft leader (false while it
// is not running).
func (s *Storage) IsLeader() bool {
	_, c, err := s.running()
	return err == nil && c.IsLeader()
}

// Join contacts gossip members at addrs and returns how many answered. The
// leader then adds this node to the raft configuration.
func (s *Storage) Join(ctx context.Context, addrs []string) (int, error) {
	if _, _, err := s.running(); err != nil {
		return 0, err
	}
	m := s.members.Load()
	if m == nil {
		return 0, errors.New("storage: join: gossip is off (no GossipAddr)")
	}
	// The join itself belongs to the membership, which waits for it on
	// shutdown; ctx only bounds how long this call waits.
	n, err := m.JoinContext(ctx, addrs)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return 0, err
	}
	if n == 0 && err != nil {
		return 0, flowmesh.FailedPrecondition("join %s: no member answered: %s", strings.Join(addrs, ", "), oneLine(err))
	}
	return n, err
}

// RemovePeer removes server id from the raft configuration (and keeps the
// reconciler from adding it back for a minute while gossip still reports it
// alive). Leader only: elsewhere a *flowmesh.NotLeaderError.
func (s *Storage) RemovePeer(ctx context.Context, id string) error {
	_, c, err := s.running()
	if err != nil {
		return err
	}
	if !c.IsLeader() {
		return c.NotLeader()
	}
	if id == c.ID() {
		servers, err := c.Servers()
		if err != nil {
			return err
		}
		if voters(servers) < 2 {
			return fmt.Errorf("storage: remove-peer %s: it is the only voter", id)
		}
	}
	c.Forget(id)
	return c.RemoveServer(ctx, id)
}

func voters(servers []cluster.Server) int {
	n := 0
	for _, s := range servers {
		if s.Voter {
			n++
		}
	}
	return n
}

// TransferLeadership hands leadership to voter id ("" = any) and returns
// once this node is no longer the leader. Leader only.
func (s *Storage) TransferLeadership(ctx context.Context, id string) error {
	_, c, err := s.running()
	if err != nil {
		return err
	}
	return c.TransferLeadership(ctx, id)
}

// removeSelfHook holds the SetRemoveSelf function.
type removeSelfHook struct {
	mu sync.Mutex
	fn func(ctx context.Context) error
}

// SetRemoveSelf sets how Leave asks a remote leader to remove this node
// from the raft configuration (the rpc layer sets a gRPC call).
func (s *Storage) SetRemoveSelf(fn func(ctx context.Context) error) {
	s.removeSelf.mu.Lock()
	defer s.removeSelf.mu.Unlock()
	s.removeSelf.fn = fn
}

// leaveWait bounds Leave's wait for this node to leave the configuration
// when ctx has no deadline.
const leaveWait = 30 * time.Second

// removeSelfRetrying asks the leader to remove this node, retrying for a
// while: right after this node handed leadership over, the cluster may not
// have a leader yet, and giving up at once would leave the node in the
// configuration as a dead voter.
func (s *Storage) removeSelfRetrying(ctx context.Context, c *cluster.Cluster, hook func(context.Context) error) error {
	deadline := time.Now().Add(removeSelfRetryFor)
	wait := 50 * time.Millisecond
	for {
		var err error
		if c.IsLeader() { // leadership came back here
			err = c.RemoveServer(ctx, c.ID())
		} else {
			err = hook(ctx)
		}
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		s.log.Info("leave: asking the leader to remove this node again", "err", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, time.Second)
	}
}

// removeSelfRetryFor bounds removeSelfRetrying.
const removeSelfRetryFor = 10 * time.Second

// Leave takes this node out of the cluster gracefully: a leader hands
// leadership over first; then the node is removed from the raft
// configuration (by the leader, through the SetRemoveSelf hook; without a
// hook by leaving gossip, which the leader reconciles); then it leaves
// gossip and stops gossiping. The node keeps running otherwise: call Stop
// next. A single-voter cluster just leaves gossip.
func (s *Storage) Leave(ctx context.Context) error {
	_, c, err := s.running()
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, leaveWait)
		defer cancel()
	}
	m := s.members.Load()
	self := c.ID()
	servers, err := c.Servers()
	if err != nil {
		return err
	}
	inConfig := false
	for _, sv := range servers {
		inConfig = inConfig || sv.ID == self
	}
	var errs []error
	if inConfig && len(servers) > 1 {
		if c.IsLeader() && voters(servers) > 1 {
			s.log.Info("leave: transferring leadership")
			if err := c.TransferLeadership(ctx, ""); err != nil {
				s.log.Warn("leave: leadership transfer failed; removing this node as leader", "err", err)
			}
		}
		s.removeSelf.mu.Lock()
		hook := s.removeSelf.fn
		s.removeSelf.mu.Unlock()
		gossipLeft := false
		switch {
		case c.IsLeader():
			err = c.RemoveServer(ctx, self)
		case hook != nil:
			err = s.removeSelfRetrying(ctx, c, hook)
		default:
			err = errors.New("no remove-self hook")
		}
		if err != nil {
			if m == nil {
				errs = append(errs, fmt.Errorf("storage: leave: removing this node: %w", err))
			} else {
				// The leader removes members that left gossip.
				s.log.Info("leave: leaving gossip for the leader to remove this node", "reason", err)
				if lerr := m.Leave(ctx); lerr != nil {
					errs = append(errs, lerr)
				}
				gossipLeft = true
				if werr := s.waitRemoved(ctx, c); werr != nil {
					errs = append(errs, werr)
				}
			}
		}
		if !gossipLeft && m != nil {
			if lerr := m.Leave(ctx); lerr != nil {
				errs = append(errs, lerr)
			}
		}
	} else if m != nil {
		if lerr := m.Leave(ctx); lerr != nil {
			errs = append(errs, lerr)
		}
	}
	if m != nil {
		errs = append(errs, m.Shutdown())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("storage: leave: %w", err)
	}
	s.log.Info("left the cluster")
	return nil
}

// waitRemoved waits until the local raft configuration no longer holds
// this node (the leader replicates the change to the removed server before
// it stops replicating to it).
func (s *Storage) waitRemoved(ctx context.Context, c *cluster.Cluster) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		servers, err := c.Servers()
		if err != nil {
			return err
		}
		found := false
		for _, sv := range servers {
			found = found || sv.ID == c.ID()
		}
		if !found {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still in the raft configuration: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// oneLine flattens err for a one-line message: memberlist reports each
// address that failed as a bulleted line of a multi-error.
func oneLine(err error) string {
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		var parts []string
		for _, e := range multi.WrappedErrors() {
			parts = append(parts, oneLine(e))
		}
		return strings.Join(parts, "; ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
