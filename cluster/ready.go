package cluster

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// SinceContact is how long ago this node last heard from a leader, or,
// when it has not since start (ever false), how long ago it started. A
// leader stops replicating to a server it removed, so a removed server's
// silence only grows.
func (c *Cluster) SinceContact() (d time.Duration, ever bool) {
	if lc := c.raft.LastContact(); !lc.IsZero() {
		return time.Since(lc), true
	}
	return time.Since(c.started), false
}

// HeartbeatTimeout is raft's heartbeat timeout: a follower that has not
// heard from its leader for this long forgets it.
func (c *Cluster) HeartbeatTimeout() time.Duration { return c.cfg.HeartbeatTimeout }

// LeaderReady waits (up to ctx) until this node leads and has committed
// and applied an entry of its current term, so it applied everything
// committed before its term. The first call in a term starts the barrier
// that proves it; later ones share it.
func (c *Cluster) LeaderReady(ctx context.Context) error {
	if c.raft.State() != raft.Leader {
		return c.notLeader()
	}
	return c.wait(ctx, c.leaderReady(c.raft.CurrentTerm()))
}

// AppliedIndex is the index the FSM has applied, counting trailing entries
// the FSM never sees (no-ops, barriers) once raft has dispatched them.
func (c *Cluster) AppliedIndex() uint64 {
	applied := c.fsm.appliedIndex()
	if ra := c.raft.AppliedIndex(); ra > applied && c.noFSMEntries(applied+1, ra) {
		applied = ra
	}
	return applied
}

// CommitIndex is the latest index this node knows to be committed. On a
// follower it stops at the follower's last log entry, however far the
// leader is ahead.
func (c *Cluster) CommitIndex() uint64 { return c.raft.CommitIndex() }
