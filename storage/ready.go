package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowmesh/flowmesh/cluster"
)

// ReadyWait bounds how long Ready waits for this node to apply the index
// it noted: a node that applies as fast as the leader commits is only a
// few entries behind at any instant, and must not flap under load. It
// stays under a probe's usual 1 s timeout (Kubernetes' default).
const ReadyWait = 500 * time.Millisecond

// readdHint is what a removed node that still gossips can expect.
const readdHint = "the leader adds an alive member back about a minute after its removal"

// Ready reports whether this node can serve with current state, and if not
// why. It notes the index the node must reach, then waits up to ReadyWait
// (or ctx) for the node to apply it (a leader, for its term's barrier too):
//
//   - a leader must have committed an entry of its term (so it applied
//     everything committed before it) and applied its commit index;
//   - a follower must know a leader that contacted it recently (a
//     removed server gets no heartbeats), be in the raft configuration it
//     knows, and have applied the leader's index: the larger of its own
//     commit index (which stops at its last log entry, so a follower far
//     behind looks current by it alone) and the applied index the leader
//     gossips (refreshed about every second, so a lower bound of the
//     leader's commit index a moment ago). Without gossip (an embedded
//     node) only the first counts.
func (s *Storage) Ready(ctx context.Context) cluster.Readiness {
	_, c, err := s.running()
	if err != nil {
		return cluster.Readiness{State: cluster.ReadyStateShutdown, Reason: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, ReadyWait)
	defer cancel()
	r, target := s.readyTarget(ctx, c)
	if r.State != "" {
		return r
	}
	if c.AppliedIndex() < target {
		err := c.WaitApplied(ctx, target)
		if errors.Is(err, cluster.ErrShutdown) {
			return cluster.Readiness{State: cluster.ReadyStateShutdown, Reason: err.Error()}
		}
		if applied := c.AppliedIndex(); applied < target {
			leader, _ := c.Leader()
			return cluster.Readiness{
				State: cluster.ReadyStateCatchingUp, Applied: applied, Target: target,
				Reason: fmt.Sprintf("catching up: applied %d of %d (leader %s)", applied, target, leader),
			}
		}
	}
	return cluster.Readiness{Ready: true, State: cluster.ReadyStateReady}
}

// readyTarget returns why c is not ready without waiting (r.State set), or
// the index it must apply to be.
func (s *Storage) readyTarget(ctx context.Context, c *cluster.Cluster) (r cluster.Readiness, target uint64) {
	st := c.Stats()
	m := s.members.Load()
	inConfig := false
	for _, sv := range st.Servers {
		inConfig = inConfig || sv.ID == st.ID
	}
	switch {
	case st.State == "shutdown" && len(st.Servers) > 0 && !inConfig:
		// raft shuts down on a leader that removed itself.
		return cluster.Readiness{State: cluster.ReadyStateRemoved,
			Reason: "removed from the raft configuration while it led, so raft shut down on this node: restart it to rejoin (" + readdHint + ")"}, 0
	case st.State == "shutdown":
		return cluster.Readiness{State: cluster.ReadyStateShutdown, Reason: "raft is shut down"}, 0
	case len(st.Servers) == 0:
		return cluster.Readiness{State: cluster.ReadyStateJoining,
			Reason: "not in a raft configuration yet: waiting for the bootstrap-expect members or for the leader to add this node"}, 0
	case !inConfig:
		r := cluster.Readiness{State: cluster.ReadyStateRemoved,
			Reason: "not in the raft configuration (removed with remove-peer or leave)"}
		if m != nil {
			r.AwaitingReadd = true
			r.Reason += "; awaiting re-add: " + readdHint
		}
		return r, 0
	case st.State == "leader":
		if err := c.LeaderReady(ctx); err != nil {
			return cluster.Readiness{State: cluster.ReadyStateCatchingUp, Applied: st.AppliedIndex, Target: st.CommitIndex,
				Reason: fmt.Sprintf("leader of term %d: has not yet committed an entry of its term (%v)", st.Term, err)}, 0
		}
		return cluster.Readiness{}, c.CommitIndex()
	}
	silent, ever := c.SinceContact()
	since := "for " + silent.Round(100*time.Millisecond).String()
	if !ever {
		since = "since start (" + silent.Round(100*time.Millisecond).String() + " ago)"
	}
	// Silence longer than an election is not an election: say what else
	// it may be.
	long := silent > s.contactTimeout(c)
	if st.LeaderID == "" {
		r := cluster.Readiness{State: cluster.ReadyStateNoLeader, Reason: "no leader: no contact from a leader " + since}
		if m != nil && long {
			for _, mb := range m.Members() {
				if mb.GossipLeader && mb.ID != st.ID && mb.Status == cluster.StatusAlive {
					r.AwaitingReadd = true
					r.Reason += fmt.Sprintf(", though gossip names %s the leader: removed from the configuration? (%s)", mb.ID, readdHint)
					break
				}
			}
		}
		return r, 0
	}
	if long {
		return cluster.Readiness{State: cluster.ReadyStateNoLeader, AwaitingReadd: m != nil,
			Reason: fmt.Sprintf("no contact from leader %s %s (removed from the configuration?)", st.LeaderID, since)}, 0
	}
	target = st.CommitIndex
	if m != nil {
		mb, ok := m.Member(st.LeaderID)
		if !ok {
			return cluster.Readiness{State: cluster.ReadyStateCatchingUp, Applied: st.AppliedIndex,
				Reason: fmt.Sprintf("catching up: leader %s's applied index not yet known from gossip", st.LeaderID)}, 0
		}
		target = max(target, mb.AppliedIndex)
	}
	return cluster.Readiness{}, target
}

// contactTimeout is how long a follower may go without hearing from a
// leader before its silence is more than an election: a follower that
// still names a leader is then not ready (raft forgets the leader after a
// heartbeat timeout, so this catches a contact that stopped while raft
// still names one), and one without a leader points at gossip's leader.
func (s *Storage) contactTimeout(c *cluster.Cluster) time.Duration {
	return max(2*time.Second, 4*c.HeartbeatTimeout())
}
