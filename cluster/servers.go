package cluster

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"github.com/flowmesh/flowmesh"
)

// defaultOpTimeout bounds a raft membership change when ctx has no deadline.
const defaultOpTimeout = 10 * time.Second

// timeoutOf converts ctx's deadline into a raft timeout.
func timeoutOf(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return defaultOpTimeout
}

// waitFuture waits for f or ctx; raft keeps the operation running when ctx
// ends first.
func (c *Cluster) waitFuture(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return c.applyError(err)
	case <-ctx.Done():
		return ctx.Err()
	case <-c.closing:
		return ErrShutdown
	}
}

// Servers returns the latest raft configuration, sorted by ID.
func (c *Cluster) Servers() ([]Server, error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, translate(err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// HasState reports whether this node has raft state: it bootstrapped, or a
// leader replicated to it, or it restarted with a log or snapshot.
func (c *Cluster) HasState() bool {
	if c.hadState || c.raft.LastIndex() > 0 {
		return true
	}
	f := c.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 0
}

// BootstrapServers bootstraps the cluster with servers as voters. It fails
// with raft.ErrCantBootstrap when this node already has state.
func (c *Cluster) BootstrapServers(servers []Server) error {
	var conf raft.Configuration
	for _, s := range servers {
		suff := raft.Voter
		if !s.Voter {
			suff = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: suff, ID: raft.ServerID(s.ID), Address: raft.ServerAddress(s.Address)})
	}
	if err := c.raft.BootstrapCluster(conf).Error(); err != nil {
		return err
	}
	return c.setClusterID(deriveClusterID(servers), "bootstrap")
}

// RaftAddr is the raft address peers dial.
func (c *Cluster) RaftAddr() string { return string(c.transport.LocalAddr()) }

// ID is this node's raft server ID.
func (c *Cluster) ID() string { return c.cfg.ID }

// AddNonvoter adds (or re-addresses) a non-voting server. Leader only.
func (c *Cluster) AddNonvoter(ctx context.Context, id, addr string) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	return c.waitFuture(ctx, c.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)))
}

// AddVoter adds a voter, promotes a non-voter, or changes a voter's address
// in place. Leader only.
func (c *Cluster) AddVoter(ctx context.Context, id, addr string) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	return c.waitFuture(ctx, c.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeoutOf(ctx)))
}

// RemoveServer removes id from the raft configuration. Leader only. A
// leader removing itself steps down once the change commits.
func (c *Cluster) RemoveServer(ctx context.Context, id string) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	servers, err := c.Servers()
	if err != nil {
		return err
	}
	found := false
	for _, s := range servers {
		found = found || s.ID == id
	}
	if !found {
		return fmt.Errorf("%w: %q", ErrUnknownServer, id)
	}
	return c.waitFuture(ctx, c.raft.RemoveServer(raft.ServerID(id), 0, timeoutOf(ctx)))
}

// TransferLeadership hands leadership to voter id ("" = the most
// up-to-date voter) and waits until this node is no longer the leader.
// Leader only.
func (c *Cluster) TransferLeadership(ctx context.Context, id string) error {
	if !c.IsLeader() {
		return c.notLeader()
	}
	var f raft.Future
	if id == "" {
		servers, err := c.Servers()
		if err != nil {
			return err
		}
		others := 0
		for _, s := range servers {
			if s.Voter && s.ID != c.cfg.ID {
				others++
			}
		}
		if others == 0 {
			return flowmesh.FailedPrecondition("transfer leadership: %s is the only voter; add nodes first", c.cfg.ID)
		}
		f = c.raft.LeadershipTransfer()
	} else {
		servers, err := c.Servers()
		if err != nil {
			return err
		}
		addr := ""
		for _, s := range servers {
			if s.ID == id && s.Voter {
				addr = s.Address
			}
		}
		if addr == "" {
			return fmt.Errorf("%w: no voter %q", ErrUnknownServer, id)
		}
		if id == c.cfg.ID {
			return nil
		}
		f = c.raft.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr))
	}
	if err := c.waitFuture(ctx, f); err != nil {
		return fmt.Errorf("cluster: leadership transfer: %w", err)
	}
	return nil
}

// NotLeader returns the *flowmesh.NotLeaderError this node reports now:
// the leader's ID and its gRPC address (raft address without
// Config.GRPCAddrOf).
func (c *Cluster) NotLeader() error { return c.notLeader() }
