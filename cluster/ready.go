package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Readiness states, stable for scripts (the node status carries them).
const (
	ReadyStateReady      = "ready"
	ReadyStateShutdown   = "shutdown"
	ReadyStateJoining    = "joining"     // no raft configuration yet: waiting to be bootstrapped or added
	ReadyStateRemoved    = "removed"     // not in the raft configuration this node knows
	ReadyStateNoLeader   = "no-leader"   // no leader, or none in contact with this node
	ReadyStateCatchingUp = "catching-up" // applied index below the leader's
)

// Readiness is whether a node can serve calls with current state, and if
// not why (storage.Storage.Ready decides it).
type Readiness struct {
	Ready bool
	State string // a ReadyState constant
	// Reason says why the node is not ready, for an operator ("" when
	// ready).
	Reason string
	// Applied is this node's applied index and Target the leader's index
	// it must reach, while catching up.
	Applied, Target uint64
	// AwaitingReadd: the node is (or seems to be) out of the raft
	// configuration while alive in gossip, where the leader adds it back
	// (about a minute after a remove-peer).
	AwaitingReadd bool
}

// Behind is how many entries the node must still apply (catching up).
func (r Readiness) Behind() uint64 {
	if r.Target > r.Applied {
		return r.Target - r.Applied
	}
	return 0
}

// Summary is a short form for a status table: "ready", "catching up 4880
// entries", "removed, awaiting re-add", "no leader", ...
func (r Readiness) Summary() string {
	switch r.State {
	case ReadyStateReady:
		return "ready"
	case ReadyStateCatchingUp:
		if n := r.Behind(); n > 0 {
			return fmt.Sprintf("catching up %d entries", n)
		}
		return "catching up"
	case ReadyStateRemoved:
		if r.AwaitingReadd {
			return "removed, awaiting re-add"
		}
		return "removed"
	case ReadyStateNoLeader:
		if r.AwaitingReadd {
			return "no leader (removed? awaiting re-add)"
		}
		return "no leader"
	case ReadyStateJoining:
		return "joining"
	case ReadyStateShutdown:
		return "shutdown"
	}
	return r.State
}

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
