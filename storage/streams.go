package storage

import (
	"context"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func (s *Storage) WriteEvents(ctx context.Context, path string, events []flowmesh.StreamEvent, opts ...flowmesh.CallOption) ([]flowmesh.Position, error) {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return nil, err
	}
	// The partition range is checked against the stream by Apply.
	if err := flowmesh.ValidateWriteEvents(events); err != nil {
		return nil, err
	}
	c := &fsmpb.WriteEvents{Path: path, Events: make([]*fsmpb.Event, len(events))}
	for i, e := range events {
		pe := &fsmpb.Event{Payload: e.Payload, Key: e.Key, Partition: int32(e.Partition)}
		for k, v := range e.Headers {
			pe.Headers = append(pe.Headers, &fsmpb.Header{Key: k, Value: v})
		}
		c.Events[i] = pe
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_WriteEvents{WriteEvents: c}}, flowmesh.ApplyCallOptions(opts))
	if err != nil {
		return nil, err
	}
	return res.Positions, nil
}

func (s *Storage) ReadFromOffset(ctx context.Context, path string, partition int, offset uint64, max int, opts ...flowmesh.CallOption) ([]flowmesh.Message, error) {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateReadFromOffset(partition, max); err != nil {
		return nil, err
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return nil, err
	}
	return f.ReadStream(path, partition, offset, max)
}

// A subscriber reads the log in batches of at most subscribeBatch messages
// and subscribeBatchBytes, which bound what one subscriber holds while it
// sends: a subscriber that stops reading blocks its stream's flow control
// with one batch in hand (300 idle subscribers held 3.4 GB with 4 MiB
// batches).
const (
	subscribeBatch      = 256
	subscribeBatchBytes = 256 << 10
)

func (s *Storage) Subscribe(ctx context.Context, path string, partition int, offset uint64, fn func(flowmesh.Message) error) error {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateSubscribe(partition); err != nil {
		return err
	}
	for {
		f, _, err := s.running()
		if err != nil {
			return err
		}
		changed := f.Changes()
		msgs, err := f.ReadStreamBytes(path, partition, offset, subscribeBatch, subscribeBatchBytes)
		if err != nil {
			return err
		}
		for _, msg := range msgs {
			if err := fn(msg); err != nil {
				return err
			}
			offset = msg.Offset + 1
		}
		if len(msgs) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		if err := s.wait(ctx, changed, time.Second); err != nil {
			return err
		}
	}
}

func (s *Storage) CommitOffset(ctx context.Context, path, group string, partition int, offset uint64, opts ...flowmesh.CallOption) error {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateCommitOffset(group, partition); err != nil {
		return err
	}
	_, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_CommitOffset{CommitOffset: &fsmpb.CommitOffset{
		Path: path, Group: group, Partition: int32(partition), Offset: offset}}}, flowmesh.ApplyCallOptions(opts))
	return err
}

func (s *Storage) FetchOffset(ctx context.Context, path, group string, partition int, opts ...flowmesh.CallOption) (uint64, error) {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return 0, err
	}
	if err := flowmesh.ValidateFetchOffset(group, partition); err != nil {
		return 0, err
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return 0, err
	}
	return f.GroupOffset(path, group, partition)
}

func (s *Storage) PartitionInfo(ctx context.Context, path string, partition int, opts ...flowmesh.CallOption) (flowmesh.PartitionInfo, error) {
	if _, _, _, err := flowmesh.ParsePath(path); err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	if err := flowmesh.ValidatePartitionInfo(partition); err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	return f.PartitionInfo(path, partition)
}
