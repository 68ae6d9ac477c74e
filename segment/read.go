package segment

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Read returns records starting at from: at most maxRecords (<= 0: no limit)
// and at most maxBytes of encoded frames (<= 0: no limit), but always at
// least one record if one exists at from. Key and Payload of the returned
// records alias shared read buffers: treat them as read-only. A damaged frame
// gives a *CorruptionError along with the records read before it.
func (l *Log) Read(from uint64, maxRecords int, maxBytes int) ([]Record, error) {
	if maxRecords <= 0 {
		maxRecords = math.MaxInt
	}
	if maxBytes <= 0 {
		maxBytes = math.MaxInt
	}
	chunk := 4 << 20
	if maxBytes < chunk {
		chunk = max(maxBytes+l.cfg.IndexInterval, 16<<10)
	}
	var gone *[]*segment
	for {
		if l.closed.Load() {
			return nil, ErrClosed
		}
		cur := l.segs.Load()
		segs := *cur
		next := segs[len(segs)-1].next.Load()
		if from == next {
			return nil, nil
		}
		if earliest := segs[0].base; from < earliest || from > next {
			return nil, &OutOfRangeError{Requested: from, Earliest: earliest, Next: next}
		}
		i := sort.Search(len(segs), func(i int) bool { return segs[i].base > from }) - 1
		out := make([]Record, 0, readCapacity(segs[i], from, next, maxRecords, maxBytes))
		budget := maxBytes
		retry := false
		for ; i < len(segs); i++ {
			s := segs[i]
			if !s.acquire() {
				retry = len(out) == 0
				break
			}
			snext := s.next.Load()
			end := s.size.Load()
			start := max(from, s.base)
			if start >= snext {
				s.release()
				continue
			}
			var done bool
			var err error
			out, done, err = s.read(out, start, snext, end, maxRecords, &budget, chunk)
			s.release()
			if errors.Is(err, errGone) && len(out) == 0 && gone != cur {
				// Removed by a DeleteBefore or Truncate in progress (it
				// holds l.mu until the new segment list is published).
				gone, retry = cur, true
				l.mu.Lock()
				l.mu.Unlock()
				break
			}
			if errors.Is(err, errGone) {
				if len(out) > 0 {
					return out, nil
				}
				return nil, fmt.Errorf("segment: read %s: %w", s.path, err)
			}
			if err != nil {
				return out, err
			}
			if done {
				break
			}
		}
		if !retry {
			return out, nil
		}
	}
}

// readCapacity estimates how many records a Read returns, so that the
// result slice is allocated once.
func readCapacity(s *segment, from, next uint64, maxRecords, maxBytes int) int {
	est := min(next-from, uint64(maxRecords), 1<<16)
	snext := s.next.Load()
	if n := snext - s.base; n > 0 {
		avg := max(uint64(s.size.Load())/n, 1)
		est = min(est, uint64(maxBytes)/avg+1)
	}
	return int(est)
}

// FindOffsetByTime returns the first offset whose Timestamp is >= ts, or
// NextOffset if there is none. It assumes timestamps that do not decrease
// across segments (the leader stamps them that way).
func (l *Log) FindOffsetByTime(ts int64) (uint64, error) {
	if l.closed.Load() {
		return 0, ErrClosed
	}
	cur := l.segs.Load()
	segs := *cur
	for _, s := range segs {
		if s.empty() || s.lastTS.Load() < ts {
			continue
		}
		if !s.acquire() {
			return l.FindOffsetByTime(ts)
		}
		off, _, _, _, err := s.find(func(r *Record) bool { return r.Timestamp >= ts })
		s.release()
		if errors.Is(err, errGone) {
			l.mu.Lock() // wait for the removal to publish its segment list
			l.mu.Unlock()
			if l.closed.Load() {
				return 0, ErrClosed
			}
			if l.segs.Load() != cur {
				return l.FindOffsetByTime(ts)
			}
			return 0, fmt.Errorf("segment: find %s: %w", s.path, err)
		}
		return off, err
	}
	return segs[len(segs)-1].next.Load(), nil
}
