package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// LeaderLogSize is how many leader changes LeaderChanges keeps.
const LeaderLogSize = 50

// LeaderChange is one change of leader as this node observed it.
type LeaderChange struct {
	At       time.Time // this node's clock when it observed the change
	Term     uint64    // this node's current term then
	LeaderID string    // "" when the node lost its leader (an election is under way)
	Addr     string    // the leader's raft address
}

// leaderLog is a ring of the last LeaderLogSize leader changes, fed by a
// raft observer. It is this node's view only, kept in memory (gone on
// restart), for operators (the admin console).
type leaderLog struct {
	mu   sync.Mutex
	ring [LeaderLogSize]LeaderChange
	n    int // changes recorded since start
}

func (l *leaderLog) add(ch LeaderChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 && l.ring[(l.n-1)%LeaderLogSize].LeaderID == ch.LeaderID {
		return // raft reports the same leader again (e.g. a new address)
	}
	l.ring[l.n%LeaderLogSize] = ch
	l.n++
}

// list returns the kept changes, newest first, and how many were recorded
// since the node started.
func (l *leaderLog) list() ([]LeaderChange, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := min(l.n, LeaderLogSize)
	out := make([]LeaderChange, 0, k)
	for i := l.n - 1; i >= l.n-k; i-- {
		out = append(out, l.ring[i%LeaderLogSize])
	}
	return out, l.n
}

// LeaderChanges returns the last LeaderLogSize leader changes this node
// observed since it started, newest first, and how many it observed in
// all. Losing the leader (an election) is a change to LeaderID "".
func (c *Cluster) LeaderChanges() ([]LeaderChange, int) { return c.leaderLog.list() }

// observeLeaders registers a raft observer of leader changes that feeds
// the leader log until raft shuts down. The observer never blocks raft: a
// change that finds the channel full is dropped.
func (c *Cluster) observeLeaders() {
	ch := make(chan raft.Observation, 16)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	c.raft.RegisterObserver(obs)
	// Leadership settled before the observer was registered.
	if id, addr := c.Leader(); id != "" {
		c.leaderLog.add(LeaderChange{At: time.Now(), Term: c.raft.CurrentTerm(), LeaderID: id, Addr: addr})
	}
	c.bgWG.Add(1)
	go func() {
		defer c.bgWG.Done()
		defer c.raft.DeregisterObserver(obs)
		for {
			select {
			case o := <-ch:
				lo := o.Data.(raft.LeaderObservation)
				c.leaderLog.add(LeaderChange{At: time.Now(), Term: c.raft.CurrentTerm(), LeaderID: string(lo.LeaderID), Addr: string(lo.LeaderAddr)})
			case <-c.raftDown:
				return
			}
		}
	}()
}
