package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/fsm"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// propose commits cmd through Raft and returns the FSM's result for it.
func (s *Storage) propose(ctx context.Context, cmd *fsmpb.Command, o flowmesh.CallOptions) (*fsm.Result, error) {
	_, c, err := s.running()
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateCallOptions(o); err != nil {
		return nil, err
	}
	setRequestID(cmd, o)
	if err := s.admitDisk(cmd); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("storage: encode command: %w", err)
	}
	if s.bugs.ackBeforeCommit && cmd.GetKvPut() != nil {
		go c.Apply(context.Background(), b)
		return &fsm.Result{}, nil
	}
	res, err := c.Apply(ctx, b)
	if errors.Is(err, cluster.ErrNoSpace) {
		return nil, s.diskFullHere()
	}
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case *fsm.Result:
		return r, nil
	case error:
		return nil, r
	}
	return nil, fmt.Errorf("storage: unexpected apply result %T", res)
}

// setRequestID sets the command's dedup key from o (checked by
// flowmesh.ValidateCallOptions).
func setRequestID(cmd *fsmpb.Command, o flowmesh.CallOptions) {
	switch {
	case o.ProducerID != "":
		cmd.RequestId = "producer/" + o.ProducerID + "/" + strconv.FormatUint(o.ProducerSeq, 10)
	case o.RequestID != "":
		cmd.RequestId = "request/" + o.RequestID
	}
}

// read returns the FSM once it is safe to read at the options' consistency.
func (s *Storage) read(ctx context.Context, opts []flowmesh.CallOption) (*fsm.FSM, error) {
	f, c, err := s.running()
	if err != nil {
		return nil, err
	}
	o := flowmesh.ApplyCallOptions(opts)
	if err := flowmesh.ValidateCallOptions(o); err != nil {
		return nil, err
	}
	switch o.Consistency {
	case flowmesh.Linearizable:
		if s.bugs.staleLinearizable {
			return f, nil
		}
		if _, err := c.ReadIndex(ctx); err != nil {
			return nil, err
		}
	case flowmesh.Leader:
		if !c.IsLeader() {
			return nil, c.NotLeader()
		}
	case flowmesh.Stale:
		if o.MaxStaleness > 0 && !c.IsLeader() {
			if last := c.Raft().LastContact(); last.IsZero() || time.Since(last) > o.MaxStaleness {
				return nil, fmt.Errorf("%w: last contact with the leader %v ago exceeds %v", flowmesh.ErrTooStale, time.Since(last), o.MaxStaleness)
			}
		}
	default:
		return nil, flowmesh.Invalid("consistency", "unknown level %d", o.Consistency)
	}
	return f, nil
}

// wait blocks until ch fires, d passes, or ctx or the node ends.
func (s *Storage) wait(ctx context.Context, ch <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return flowmesh.ErrStopped
	}
	return nil
}

// flushLoop makes the FSM durable every FlushInterval.
func (s *Storage) flushLoop() {
	t := time.NewTicker(s.cfg.FlushInterval)
	defer t.Stop()
	failing := 0 // flushes failed in a row: a full disk fails every one
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			err := s.fsm.Flush()
			switch {
			case err != nil && failing == 0:
				s.log.Error("flush failed; the next start replays the raft log from the last checkpoint", "err", err)
			case err != nil && failing%100 == 0:
				s.log.Error("flush still failing", "err", err, "failures", failing)
			case err == nil && failing > 0:
				s.log.Info("flush works again", "failures", failing)
			}
			if err != nil {
				failing++
			} else {
				failing = 0
			}
		}
	}
}

// leaderLoop proposes TTL expiries, stream retention and KV history trims
// while this node leads.
func (s *Storage) leaderLoop() {
	expiry := time.NewTicker(s.cfg.ExpiryInterval)
	defer expiry.Stop()
	retention := time.NewTicker(s.cfg.RetentionInterval)
	defer retention.Stop()
	quotaDone := false // this leadership proposed the configured default quota
	for {
		select {
		case <-s.stop:
			return
		case <-expiry.C:
			if !s.cluster.IsLeader() {
				quotaDone = false
			} else if !quotaDone {
				quotaDone = s.proposeDefaultQuota()
			}
			if s.cluster.IsLeader() {
				var cmds []*fsmpb.Command
				for _, c := range s.fsm.PlanExpiry(s.now().UnixNano(), 1000) {
					cmds = append(cmds, &fsmpb.Command{Op: &fsmpb.Command_KvExpire{KvExpire: c}})
				}
				s.proposeBackground(cmds)
			}
		case <-retention.C:
			if s.cluster.IsLeader() {
				var cmds []*fsmpb.Command
				for _, c := range s.fsm.PlanRetention(s.now().UnixNano()) {
					cmds = append(cmds, &fsmpb.Command{Op: &fsmpb.Command_TrimPartition{TrimPartition: c}})
				}
				if s.cfg.KVHistoryMaxAge > 0 {
					for _, c := range s.fsm.PlanHistoryTrim(s.now().UnixNano(), s.cfg.KVHistoryMaxAge, 1000) {
						cmds = append(cmds, &fsmpb.Command{Op: &fsmpb.Command_KvTrimHistory{KvTrimHistory: c}})
					}
				}
				s.proposeBackground(cmds)
			}
		}
	}
}

// proposeBackground proposes leader-originated commands concurrently (so
// group commit packs them) and waits for them; losing leadership meanwhile is
// harmless: the next leader plans again.
func (s *Storage) proposeBackground(cmds []*fsmpb.Command) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.propose(ctx, cmd, flowmesh.CallOptions{}); err != nil {
				s.log.Debug("background proposal failed", "err", err)
			}
		}()
	}
	wg.Wait()
}
