package fsm

import (
	"errors"
	"fmt"
	"hash/fnv"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
	"github.com/flowmesh/flowmesh/segment"
)

type streamState struct {
	parts []*partition
	tu    *usage // the tenant's use
}

type partition struct {
	log *segment.Log
	// earliest is the logical first offset, set by trim commands. Whole
	// segments below it are deleted; reads below it are out of range on
	// every replica even where a segment below it still exists.
	earliest uint64
	// bytes counts the events' bytes in [earliest, next) (eventBytes).
	bytes int64
}

func openStream(dir string, n int, cfg segment.Config, index uint64) (*streamState, error) {
	s := &streamState{}
	for i := 0; i < n; i++ {
		l, err := openLog(filepath.Join(dir, "p"+strconv.Itoa(i)), cfg, index)
		if err != nil {
			s.close()
			return nil, err
		}
		s.parts = append(s.parts, &partition{log: l})
	}
	return s, nil
}

// streamSegmentConfig rolls a stream's segments often enough for its
// retention to act: retention deletes whole sealed segments only, so a
// segment spans at most a quarter of MaxAge and of MaxBytes.
func streamSegmentConfig(cfg segment.Config, m *fsmpb.Resource) segment.Config {
	if m.MaxAge > 0 {
		age := max(time.Duration(m.MaxAge)/4, time.Second)
		if cfg.SegmentMaxAge <= 0 || age < cfg.SegmentMaxAge { // negative: no roll by age
			cfg.SegmentMaxAge = age
		}
	}
	if m.MaxBytes > 0 {
		size := max(m.MaxBytes/4, 64<<10)
		if cfg.SegmentMaxSize == 0 || size < cfg.SegmentMaxSize {
			cfg.SegmentMaxSize = size
		}
	}
	return cfg
}

// openLog opens a segment log and cuts it back to the checkpoint index.
func openLog(dir string, cfg segment.Config, index uint64) (*segment.Log, error) {
	l, err := segment.Open(dir, cfg)
	if err != nil {
		return nil, err
	}
	if l.LastIndex() > index {
		if err := l.TruncateAfterIndex(index); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// forEachRecord calls fn for every record of l from offset from to the end.
func forEachRecord(l *segment.Log, from uint64, fn func(segment.Record) error) error {
	for from < l.NextOffset() {
		recs, err := l.Read(from, 4096, 4<<20)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if err := fn(rec); err != nil {
				return err
			}
			from = rec.Offset + 1
		}
	}
	return nil
}

func (s *streamState) close() error {
	var errs []error
	for _, p := range s.parts {
		errs = append(errs, p.log.Close())
	}
	return errors.Join(errs...)
}

// PartitionFor routes a keyed event: FNV-1a of the key modulo partitions.
func PartitionFor(key string, partitions int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(partitions))
}

// checkPartitions checks the partition of each event without a key
// against the stream's partitions: the node checked the batch's shape
// with flowmesh.ValidateWriteEvents (or ValidateTxn) before proposing; the
// partition count needs the stream.
func checkPartitions(events []*fsmpb.Event, partitions int) error {
	for i, e := range events {
		if e.Key == "" && (e.Partition < 0 || int(e.Partition) >= partitions) {
			return flowmesh.Invalid("events["+strconv.Itoa(i)+"].partition", "%d is outside 0..%d", e.Partition, partitions-1)
		}
	}
	return nil
}

func (f *FSM) applyWriteEvents(ac *applyCtx, c *fsmpb.WriteEvents) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindStream)
	if err != nil {
		return nil, err
	}
	n := len(r.stream.parts)
	if err := checkPartitions(c.Events, n); err != nil {
		return nil, err
	}
	var need int64
	for _, e := range c.Events {
		need += eventBytes(e)
	}
	if err := f.checkQuota(r.meta.Tenant, usage{StoredBytes: need}); err != nil {
		return nil, err
	}
	// Staged one by one: each partition's records keep the events' order,
	// and stage returns each record's offset.
	res := &Result{Positions: make([]flowmesh.Position, len(c.Events))}
	for i, e := range c.Events {
		p := int(e.Partition)
		if e.Key != "" {
			p = PartitionFor(e.Key, n)
		}
		rec := segment.Record{Index: ac.index, Timestamp: ac.stamp, Payload: e.Payload}
		if e.Key != "" {
			rec.Key = []byte(e.Key)
		}
		if len(e.Headers) > 0 {
			rec.Headers = make([]segment.Header, len(e.Headers))
			for j, h := range e.Headers {
				rec.Headers[j] = segment.Header{Key: h.Key, Value: h.Value}
			}
			slices.SortStableFunc(rec.Headers, func(a, b segment.Header) int { return strings.Compare(a.Key, b.Key) })
		}
		res.Positions[i] = flowmesh.Position{Partition: p, Offset: f.stage(r.stream.parts[p].log, rec)}
		r.stream.parts[p].bytes += eventBytes(e)
	}
	r.stream.tu.StoredBytes += need
	return res, nil
}

func (f *FSM) applyCommitOffset(c *fsmpb.CommitOffset) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindStream)
	if err != nil {
		return nil, err
	}
	if err := flowmesh.ValidateCommitOffset(c.Group, int(c.Partition)); err != nil {
		return nil, err
	}
	if c.Partition < 0 || int(c.Partition) >= len(r.stream.parts) {
		return nil, flowmesh.Invalid("partition", "%d is outside 0..%d", c.Partition, len(r.stream.parts)-1)
	}
	k := groupKey{c.Path, c.Group, c.Partition}
	if _, ok := f.groups[k]; !ok {
		if err := f.checkQuota(r.meta.Tenant, usage{MemoryBytes: groupMemory(k)}); err != nil {
			return nil, err
		}
		f.chargeGroup(r, k, 1)
	}
	f.groups[k] = c.Offset
	return &Result{}, nil
}

func (f *FSM) applyTrim(ac *applyCtx, c *fsmpb.TrimPartition) (*Result, error) {
	r, err := f.lookup(c.Path, flowmesh.KindStream)
	if err != nil {
		return nil, err
	}
	if c.Partition < 0 || int(c.Partition) >= len(r.stream.parts) {
		return nil, flowmesh.Invalid("partition", "%d is outside 0..%d", c.Partition, len(r.stream.parts)-1)
	}
	p := r.stream.parts[c.Partition]
	if err := f.writeStaged(ac.index); err != nil {
		return nil, fatalError{err}
	}
	before := min(c.Before, p.log.NextOffset())
	if before <= p.earliest {
		return &Result{}, nil
	}
	freed, err := rangeBytes(p.log, p.earliest, before)
	if err != nil {
		return nil, fatalError{fmt.Errorf("trim %s partition %d: %w", c.Path, c.Partition, err)}
	}
	p.bytes -= freed
	r.stream.tu.StoredBytes -= freed
	p.earliest = before
	if _, err := p.log.DeleteBefore(before); err != nil {
		return nil, fatalError{fmt.Errorf("trim %s partition %d: %w", c.Path, c.Partition, err)}
	}
	return &Result{}, nil
}

// ReadStream reads up to max messages of a partition from offset, and up
// to ReadStreamBytes of them (at least one).
func (f *FSM) ReadStream(path string, part int, offset uint64, limit int) ([]flowmesh.Message, error) {
	return f.ReadStreamBytes(path, part, offset, limit, ReadStreamBytes)
}

// ReadStreamBytes is the byte budget of one ReadStream.
const ReadStreamBytes = 4 << 20

// ReadStreamBytes reads up to limit messages of a partition from offset and
// up to maxBytes of them (at least one).
func (f *FSM) ReadStreamBytes(path string, part int, offset uint64, limit, maxBytes int) ([]flowmesh.Message, error) {
	f.mu.RLock()
	r, err := f.lookup(path, flowmesh.KindStream)
	if err != nil {
		f.mu.RUnlock()
		return nil, err
	}
	if part < 0 || part >= len(r.stream.parts) {
		f.mu.RUnlock()
		return nil, flowmesh.Invalid("partition", "%d is outside 0..%d", part, len(r.stream.parts)-1)
	}
	p := r.stream.parts[part]
	earliest, log := p.earliest, p.log
	f.mu.RUnlock()

	next := log.NextOffset()
	if offset < earliest || offset > next {
		return nil, &flowmesh.OffsetOutOfRangeError{Requested: offset, Earliest: max(earliest, log.EarliestOffset()), Next: next}
	}
	recs, err := log.Read(offset, limit, maxBytes)
	if err != nil {
		var oor *segment.OutOfRangeError
		if errors.As(err, &oor) {
			return nil, &flowmesh.OffsetOutOfRangeError{Requested: offset, Earliest: max(earliest, oor.Earliest), Next: oor.Next}
		}
		if errors.Is(err, segment.ErrClosed) {
			return nil, fmt.Errorf("%w: stream %s", flowmesh.ErrNotFound, path)
		}
		return nil, fmt.Errorf("fsm: read %s partition %d: %w", path, part, err)
	}
	out := make([]flowmesh.Message, len(recs))
	for i, rec := range recs {
		m := flowmesh.Message{Partition: part, Offset: rec.Offset, Timestamp: time.Unix(0, rec.Timestamp).UTC(),
			Key: string(rec.Key), Payload: rec.Payload}
		if len(rec.Headers) > 0 {
			m.Headers = make(map[string]string, len(rec.Headers))
			for _, h := range rec.Headers {
				m.Headers[h.Key] = h.Value
			}
		}
		out[i] = m
	}
	return out, nil
}

// PartitionInfo returns a partition's retained range.
func (f *FSM) PartitionInfo(path string, part int) (flowmesh.PartitionInfo, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	r, err := f.lookup(path, flowmesh.KindStream)
	if err != nil {
		return flowmesh.PartitionInfo{}, err
	}
	if part < 0 || part >= len(r.stream.parts) {
		return flowmesh.PartitionInfo{}, flowmesh.Invalid("partition", "%d is outside 0..%d", part, len(r.stream.parts)-1)
	}
	p := r.stream.parts[part]
	return flowmesh.PartitionInfo{Partition: part, Earliest: max(p.earliest, p.log.EarliestOffset()), Next: p.log.NextOffset(), Bytes: p.log.Size()}, nil
}

// GroupOffset returns a consumer group's committed offset.
func (f *FSM) GroupOffset(path, group string, part int) (uint64, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, err := f.lookup(path, flowmesh.KindStream); err != nil {
		return 0, err
	}
	off, ok := f.groups[groupKey{path, group, int32(part)}]
	if !ok {
		return 0, fmt.Errorf("%w: group %q has no offset for %s partition %d", flowmesh.ErrNotFound, group, path, part)
	}
	return off, nil
}

// PlanRetention returns the trim commands the leader should propose at now:
// whole sealed segments older than MaxAge, or beyond MaxBytes per partition.
func (f *FSM) PlanRetention(now int64) []*fsmpb.TrimPartition {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*fsmpb.TrimPartition
	for _, path := range f.sortedPaths() {
		r := f.resources[path]
		if r.stream == nil || (r.meta.MaxAge == 0 && r.meta.MaxBytes == 0) {
			continue
		}
		for i, p := range r.stream.parts {
			segs := p.log.Segments()
			cut := uint64(0)
			var keep int64
			for j := len(segs) - 1; j >= 0; j-- {
				s := segs[j]
				if !s.Sealed {
					keep += s.Size
					continue
				}
				tooOld := r.meta.MaxAge > 0 && s.LastTimestamp < now-r.meta.MaxAge
				tooBig := r.meta.MaxBytes > 0 && keep+s.Size > r.meta.MaxBytes
				if tooOld || tooBig {
					cut = s.NextOffset
					break
				}
				keep += s.Size
			}
			if cut > p.earliest {
				out = append(out, &fsmpb.TrimPartition{Path: path, Partition: int32(i), Before: cut})
			}
		}
	}
	return out
}
