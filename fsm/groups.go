package fsm

import (
	"cmp"
	"slices"
)

// GroupOffset is a consumer group's committed offset in one partition of
// a stream: the next offset the group reads.
type GroupOffset struct {
	Path      string
	Group     string
	Partition int
	Offset    uint64
}

// GroupOffsets returns up to limit committed consumer-group offsets of
// every stream, sorted by path, group and partition, and how many there
// are in all (limit <= 0: all of them). Only the copy is made under the
// read lock; the sort happens outside it.
func (f *FSM) GroupOffsets(limit int) ([]GroupOffset, int) {
	f.mu.RLock()
	out := make([]GroupOffset, 0, len(f.groups))
	for k, off := range f.groups {
		out = append(out, GroupOffset{Path: k.path, Group: k.group, Partition: int(k.partition), Offset: off})
	}
	f.mu.RUnlock()
	slices.SortFunc(out, func(a, b GroupOffset) int {
		return cmp.Or(cmp.Compare(a.Path, b.Path), cmp.Compare(a.Group, b.Group), cmp.Compare(a.Partition, b.Partition))
	})
	total := len(out)
	if limit > 0 && total > limit {
		out = out[:limit]
	}
	return out, total
}
