package cluster

import (
	"sync"
)

// leaderWatch fans raft's leadership notifications out to subscribers.
// Each subscriber holds the latest value only: a slow reader misses
// intermediate flips, never the final state.
type leaderWatch struct {
	mu   sync.Mutex
	subs []chan bool
}

// subscribe returns a new subscriber channel holding now(), read under the
// lock so a notification being delivered cannot be overtaken by it.
func (w *leaderWatch) subscribe(now func() bool) <-chan bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan bool, 1)
	ch <- now()
	w.subs = append(w.subs, ch)
	return ch
}

func (w *leaderWatch) set(leader bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.subs {
		select {
		case <-ch:
		default:
		}
		ch <- leader
	}
}

// LeaderCh returns a channel that holds whether this node is the leader: it
// has the current value on return and always the latest one after (values
// in between may be skipped). Storage uses it to run leader-only loops.
// Each call adds a subscriber for the life of the Cluster, so call it once
// per loop, not per iteration. The channel is not closed on Shutdown (it
// gets false); select on your own stop signal too.
func (c *Cluster) LeaderCh() <-chan bool { return c.leaders.subscribe(c.IsLeader) }

// watchLeadership drains raft's NotifyCh (raft blocks on it) until raft has
// shut down.
func (c *Cluster) watchLeadership() {
	defer c.bgWG.Done()
	for {
		select {
		case leader := <-c.notifyCh:
			c.logger.Info("leadership changed", "leader", leader, "term", c.raft.CurrentTerm())
			c.leaders.set(leader)
		case <-c.raftDown:
			c.leaders.set(false)
			return
		}
	}
}
