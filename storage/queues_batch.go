package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// The batched queue API (flowmesh.QueueBatcher): each call is one Raft
// command, validated here against the limits before it is proposed and
// again by the FSM (which knows the queue's own payload limit).

// EnqueueBatch adds the jobs in one command and returns one result per job.
func (s *Storage) EnqueueBatch(ctx context.Context, path string, jobs []flowmesh.EnqueueItem, opts ...flowmesh.CallOption) ([]flowmesh.EnqueuedJob, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateEnqueueBatch(jobs); err != nil {
		return nil, err
	}
	c := &fsmpb.EnqueueBatch{Path: path, Jobs: make([]*fsmpb.EnqueueItem, len(jobs))}
	for i, j := range jobs {
		c.Jobs[i] = &fsmpb.EnqueueItem{Payload: j.Payload, Delay: int64(j.Delay), DedupId: j.DedupID}
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_EnqueueBatch{EnqueueBatch: c}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return nil, err
	}
	out := make([]flowmesh.EnqueuedJob, len(res.Items))
	for i, it := range res.Items {
		out[i] = flowmesh.EnqueuedJob{JobID: it.JobID, Seq: it.Seq}
	}
	return out, nil
}

// ReserveBatch reserves up to max ready jobs in one command.
func (s *Storage) ReserveBatch(ctx context.Context, path string, max int, visibility time.Duration, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserveBatch(max, visibility); err != nil {
		return nil, err
	}
	c := &fsmpb.ReserveBatch{Path: path, Visibility: int64(visibility), Max: int32(max), MaxBytes: flowmesh.MaxBatchBytes}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_ReserveBatch{ReserveBatch: c}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return nil, err
	}
	// A copy: the FSM's result may be held by its dedup window.
	jobs := make([]flowmesh.Job, len(res.Jobs))
	for i, j := range res.Jobs {
		j.ID = flowmesh.ReservationID(j.Receipt)
		jobs[i] = j
	}
	return jobs, nil
}

// ReserveBatchWait is ReserveBatch that waits up to wait for a first job.
func (s *Storage) ReserveBatchWait(ctx context.Context, path string, max int, visibility, wait time.Duration, opts ...flowmesh.CallOption) ([]flowmesh.Job, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReserveBatch(max, visibility); err != nil {
		return nil, err
	}
	var jobs []flowmesh.Job
	err := s.pollReserve(ctx, path, wait, opts, func(callOpts []flowmesh.CallOption) (done bool, err error) {
		jobs, err = s.ReserveBatch(ctx, path, max, visibility, callOpts...)
		return err != nil || len(jobs) > 0, err
	})
	if err != nil {
		return nil, err
	}
	if jobs == nil {
		jobs = []flowmesh.Job{}
	}
	return jobs, nil
}

// AckBatch acknowledges the receipts in one command; see flowmesh.QueueBatcher.
func (s *Storage) AckBatch(ctx context.Context, path string, receipts []flowmesh.Receipt, opts ...flowmesh.CallOption) ([]error, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateAckBatch(receipts); err != nil {
		return nil, err
	}
	c := &fsmpb.AckBatch{Path: path, Receipts: make([]*fsmpb.Receipt, len(receipts))}
	for i, r := range receipts {
		c.Receipts[i] = &fsmpb.Receipt{JobId: r.JobID, Attempt: int32(r.Attempt)}
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_AckBatch{AckBatch: c}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return nil, err
	}
	if len(res.Items) != len(receipts) {
		return nil, fmt.Errorf("storage: AckBatch: %d results for %d receipts", len(res.Items), len(receipts))
	}
	out := make([]error, len(res.Items))
	for i, it := range res.Items {
		out[i] = it.Err
	}
	return out, nil
}
