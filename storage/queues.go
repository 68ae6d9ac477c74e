package storage

import (
	"context"
	"strconv"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func checkPath(path string) error { return flowmesh.ValidatePath(path) }

func (s *Storage) Enqueue(ctx context.Context, path string, payload []byte, opts flowmesh.QueueEnqueueOptions, callOpts ...flowmesh.CallOption) (string, uint64, error) {
	if err := checkPath(path); err != nil {
		return "", 0, err
	}
	if err := flowmesh.ValidateEnqueue(payload, opts); err != nil {
		return "", 0, err
	}
	c := &fsmpb.Enqueue{Path: path, Payload: payload, Delay: int64(opts.Delay), DedupId: opts.DedupID}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Enqueue{Enqueue: c}}, flowmesh.ApplyCallOptions(callOpts))
	if err != nil {
		return "", 0, err
	}
	return res.JobID, res.Seq, nil
}

func (s *Storage) Reserve(ctx context.Context, path string, visibility time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserve(visibility); err != nil {
		return nil, err
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Reserve{Reserve: &fsmpb.Reserve{Path: path, Visibility: int64(visibility)}}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return nil, err
	}
	if res.Job == nil {
		return nil, nil
	}
	job := *res.Job // the FSM's result may be held by its dedup window
	job.ID = flowmesh.ReservationID(job.Receipt)
	return &job, nil
}

// ReserveWait proposes a reservation whenever a job may have become ready:
// after any applied change, or when the earliest delay or visibility ends.
func (s *Storage) ReserveWait(ctx context.Context, path string, visibility, wait time.Duration, opts ...flowmesh.CallOption) (*flowmesh.Job, error) {
	var job *flowmesh.Job
	err := s.pollReserve(ctx, path, wait, opts, func(callOpts []flowmesh.CallOption) (done bool, err error) {
		job, err = s.Reserve(ctx, path, visibility, callOpts...)
		return err != nil || job != nil, err
	})
	return job, err
}

// pollReserve calls try until it reports done, the wait ends, or ctx ends:
// first at once, then whenever a job may have become ready (after any
// applied change, or when the earliest delay or visibility ends). Each try
// is its own reservation, so with a caller's request ID later tries carry
// derived IDs (a repeat of the first would just return its empty result).
func (s *Storage) pollReserve(ctx context.Context, path string, wait time.Duration, opts []flowmesh.CallOption, try func(callOpts []flowmesh.CallOption) (bool, error)) error {
	if err := flowmesh.ValidateReserveWait(wait); err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	o := flowmesh.ApplyCallOptions(opts)
	for attempt := 0; ; attempt++ {
		f, _, err := s.running()
		if err != nil {
			return err
		}
		changed := f.Changes()
		callOpts := opts
		if o.RequestID != "" && attempt > 0 {
			callOpts = append(append([]flowmesh.CallOption(nil), opts...), flowmesh.WithRequestID(o.RequestID+"#"+strconv.Itoa(attempt)))
		}
		if done, err := try(callOpts); done || err != nil {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil
		}
		now := s.now().UnixNano()
		if at, ok, err := f.NextReady(path, now); err == nil && ok && at > now && time.Duration(at-now) < left {
			left = time.Duration(at-now) + time.Millisecond
		} else if ok && at <= now {
			left = min(left, 10*time.Millisecond)
		}
		if err := s.wait(ctx, changed, left); err != nil {
			return err
		}
	}
}

func (s *Storage) Ack(ctx context.Context, path string, r flowmesh.Receipt, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateAck(r); err != nil {
		return err
	}
	return s.ack(ctx, path, r, opts)
}

func (s *Storage) ack(ctx context.Context, path string, r flowmesh.Receipt, opts []flowmesh.CallOption) error {
	_, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Ack{Ack: &fsmpb.Ack{Path: path, JobId: r.JobID, Attempt: int32(r.Attempt)}}}, flowmesh.ApplyCallOptions(opts))
	return err
}

func (s *Storage) Nack(ctx context.Context, path string, r flowmesh.Receipt, delay time.Duration, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateNack(r, delay); err != nil {
		return err
	}
	_, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Nack{Nack: &fsmpb.Nack{Path: path, JobId: r.JobID, Attempt: int32(r.Attempt), Delay: int64(delay)}}}, flowmesh.ApplyCallOptions(opts))
	return err
}

func (s *Storage) Touch(ctx context.Context, path string, r flowmesh.Receipt, visibility time.Duration, opts ...flowmesh.CallOption) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateTouch(r, visibility); err != nil {
		return err
	}
	_, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Touch{Touch: &fsmpb.Touch{Path: path, JobId: r.JobID, Attempt: int32(r.Attempt), Visibility: int64(visibility)}}}, flowmesh.ApplyCallOptions(opts))
	return err
}

func (s *Storage) Stats(ctx context.Context, path string, opts ...flowmesh.CallOption) (flowmesh.QueueStats, error) {
	if err := checkPath(path); err != nil {
		return flowmesh.QueueStats{}, err
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return flowmesh.QueueStats{}, err
	}
	return f.QueueStats(path, max(s.now().UnixNano(), f.LastStamp()))
}

func (s *Storage) Purge(ctx context.Context, path string, opts ...flowmesh.CallOption) (int, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Purge{Purge: &fsmpb.Purge{Path: path}}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return 0, err
	}
	return res.Count, nil
}

func (s *Storage) ListDead(ctx context.Context, path string, limit int, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateListDead(limit); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = flowmesh.MaxReadMessages // not every dead job: a reply holds at most as many as a read
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return nil, err
	}
	return f.ListDead(path, limit)
}

func (s *Storage) Redrive(ctx context.Context, path string, max int, opts ...flowmesh.CallOption) (int, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if max < 0 {
		max = 0
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_Redrive{Redrive: &fsmpb.Redrive{Path: path, Max: int32(min(max, 1<<30))}}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return 0, err
	}
	return res.Count, nil
}
