package cluster

import (
	"errors"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// timedLogStore records when a write to the raft log started, so the
// watchdog sees a write (an fsync) that does not return.
type timedLogStore struct {
	raft.LogStore
	busySince atomic.Int64 // unix nanos of the write in progress, 0 when idle
	lastWrite atomic.Int64 // unix nanos when the last write finished
	stall     func()       // tests: called inside every write (may block)
	// noSpace holds while the last write failed for want of space;
	// onNoSpace is Config.OnLogNoSpace.
	noSpace   atomic.Bool
	onNoSpace func()
}

func (s *timedLogStore) begin() {
	s.busySince.Store(time.Now().UnixNano())
	if s.stall != nil {
		s.stall()
	}
}

func (s *timedLogStore) end() {
	now := time.Now().UnixNano()
	s.lastWrite.Store(now)
	s.busySince.Store(0)
}

func (s *timedLogStore) StoreLog(l *raft.Log) error {
	s.begin()
	defer s.end()
	return s.LogStore.StoreLog(l)
}

func (s *timedLogStore) StoreLogs(ls []*raft.Log) error {
	s.begin()
	defer s.end()
	err := s.LogStore.StoreLogs(ls)
	full := err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT))
	s.noSpace.Store(full)
	if full && s.onNoSpace != nil {
		s.onNoSpace()
	}
	return err
}

// stalled reports how long the write in progress has taken, 0 when idle.
func (s *timedLogStore) stalled(now time.Time) time.Duration {
	b := s.busySince.Load()
	if b == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, b))
}

// fencedTransport is the raft transport with a switch that makes the
// leader's AppendEntries (heartbeats included) fail. raft's leader loop
// writes the log synchronously, so a leader stuck in an fsync cannot
// process a leadership transfer; fencing its heartbeats lets the followers
// elect a new leader instead.
type fencedTransport struct {
	*raft.NetworkTransport
	fenced atomic.Bool
}

var errFenced = errors.New("cluster: transport fenced: this leader's disk stalled")

func (t *fencedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if t.fenced.Load() {
		return errFenced
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

func (t *fencedTransport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.fenced.Load() {
		return nil, errFenced
	}
	p, err := t.NetworkTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &fencedPipeline{AppendPipeline: p, t: t}, nil
}

// fencedPipeline fences pipelined replication too: raft sends on the
// pipeline every CommitTimeout, which followers count as contact.
type fencedPipeline struct {
	raft.AppendPipeline
	t *fencedTransport
}

func (p *fencedPipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if p.t.fenced.Load() {
		return nil, errFenced
	}
	return p.AppendPipeline.AppendEntries(args, resp)
}

// runWatchdog steps the leader down when a raft log write takes longer than
// FsyncStallTimeout: it asks raft for a leadership transfer and fences the
// transport until leadership is lost. An idle leader writes a Barrier now
// and then, so a stalled disk is found before a client meets it.
func (c *Cluster) runWatchdog() {
	timeout := c.cfg.FsyncStallTimeout
	tick := max(timeout/10, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var fencedAt time.Time
	var warned int64 // busySince of the stall last reported
	probing := false
	probeDone := make(chan struct{}, 1)
	for {
		select {
		case <-c.closing:
			c.transport.fenced.Store(false)
			return
		case <-probeDone:
			probing = false
			continue
		case <-t.C:
		}
		now := time.Now()
		leader := c.IsLeader()
		if !fencedAt.IsZero() {
			if !leader || now.Sub(fencedAt) > 20*c.cfg.ElectionTimeout+timeout {
				c.transport.fenced.Store(false)
				c.logger.Warn("watchdog: transport unfenced", "still_leader", leader)
				fencedAt = time.Time{}
			}
			continue
		}
		if !leader {
			continue
		}
		if d := c.logStore.stalled(now); d > timeout {
			if c.voters() < 2 {
				if b := c.logStore.busySince.Load(); b != warned {
					warned = b
					c.logger.Error("WATCHDOG: raft log write stalled; single voter, nobody to hand leadership to", "stalled_for", d, "limit", timeout)
				}
				continue
			}
			c.logger.Error("WATCHDOG: raft log write stalled, stepping down as leader", "stalled_for", d, "limit", timeout)
			c.transport.fenced.Store(true)
			fencedAt = now
			c.raft.LeadershipTransfer() // processed only if the leader loop is not the one stuck
			continue
		}
		last := time.Unix(0, c.logStore.lastWrite.Load())
		if !probing && now.Sub(last) > timeout {
			probing = true
			go func() {
				// Answered at the latest when raft shuts down.
				_ = c.raft.Barrier(timeout).Error()
				probeDone <- struct{}{}
			}()
		}
	}
}

// voters counts the voters in the latest configuration.
func (c *Cluster) voters() int {
	servers, err := c.Servers()
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range servers {
		if s.Voter {
			n++
		}
	}
	return n
}

// IsMonotonic passes on the store's raft.MonotonicLogStore: raft-wal holds
// no gaps, so after installing a snapshot raft must empty it
// (removeOldLogs) instead of compacting it with trailing logs, or the
// follower's next append past the snapshot fails and it never catches up
// (test/cluster TestCatchUpFromSnapshot; raft's LogCache passes it on too).
func (s *timedLogStore) IsMonotonic() bool {
	m, ok := s.LogStore.(raft.MonotonicLogStore)
	return ok && m.IsMonotonic()
}
