package storage

import (
	"context"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func (s *Storage) Put(ctx context.Context, path, key string, value []byte, opts flowmesh.KVPutOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := flowmesh.ValidatePut(key, value, opts); err != nil {
		return 0, err
	}
	c := &fsmpb.KVPut{Path: path, Key: key, Value: value, Ttl: int64(opts.TTL)}
	if opts.IfRevision != nil {
		c.HasIfRevision, c.IfRevision = true, *opts.IfRevision
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_KvPut{KvPut: c}}, flowmesh.ApplyCallOptions(callOpts))
	if err != nil {
		return 0, err
	}
	return res.Revision, nil
}

func (s *Storage) Get(ctx context.Context, path, key string, opts ...flowmesh.CallOption) (flowmesh.KVEntry, error) {
	if err := checkPath(path); err != nil {
		return flowmesh.KVEntry{}, err
	}
	if err := flowmesh.ValidateGet(key); err != nil {
		return flowmesh.KVEntry{}, err
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return flowmesh.KVEntry{}, err
	}
	return f.KVGet(path, key, s.now().UnixNano())
}

func (s *Storage) Delete(ctx context.Context, path, key string, opts flowmesh.KVDeleteOptions, callOpts ...flowmesh.CallOption) (uint64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	if err := flowmesh.ValidateDelete(key); err != nil {
		return 0, err
	}
	c := &fsmpb.KVDelete{Path: path, Key: key}
	if opts.IfRevision != nil {
		c.HasIfRevision, c.IfRevision = true, *opts.IfRevision
	}
	res, err := s.propose(ctx, &fsmpb.Command{Op: &fsmpb.Command_KvDelete{KvDelete: c}}, flowmesh.ApplyCallOptions(callOpts))
	if err != nil {
		return 0, err
	}
	return res.Revision, nil
}

func (s *Storage) List(ctx context.Context, path, prefix, after string, limit int, opts ...flowmesh.CallOption) ([]flowmesh.KVEntry, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateList(prefix, after, limit); err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = flowmesh.MaxListEntries
	}
	f, err := s.read(ctx, opts)
	if err != nil {
		return nil, err
	}
	return f.KVList(path, prefix, after, limit, s.now().UnixNano())
}

// NextRevision is the revision a watch from 0 on path starts at in this
// node's state: the next revision. Watching from it misses no change.
func (s *Storage) NextRevision(ctx context.Context, path string) (uint64, error) {
	if err := checkPath(path); err != nil {
		return 0, err
	}
	f, _, err := s.running()
	if err != nil {
		return 0, err
	}
	_, next, err := f.KVEvents(path, "", 0, 1)
	return next, err
}

func (s *Storage) Watch(ctx context.Context, path, prefix string, fromRevision uint64, fn func(flowmesh.KVEvent) error) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if err := flowmesh.ValidateWatch(prefix); err != nil {
		return err
	}
	from := fromRevision
	for {
		f, _, err := s.running()
		if err != nil {
			return err
		}
		changed := f.Changes()
		events, next, err := f.KVEvents(path, prefix, from, 1000)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if err := fn(ev); err != nil {
				return err
			}
		}
		moved := next != from
		from = next
		if len(events) > 0 || (moved && fromRevision != 0) {
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

// KVHistoryStats reports the bytes the KV stores' Watch histories hold on
// this node and the number of KV stores (each holds at most
// flowmesh.MaxKVHistoryBytes), for /metrics; zero when stopped.
func (s *Storage) KVHistoryStats() (bytes int64, stores int) {
	f, _, err := s.running()
	if err != nil {
		return 0, 0
	}
	return f.KVHistoryStats()
}
