package storage

import "github.com/flowmesh/flowmesh/fsm"

// GroupOffset is a consumer group's committed offset in one partition.
type GroupOffset = fsm.GroupOffset

// LocalGroupOffsets returns up to limit committed consumer-group offsets
// of every stream as this node holds them, sorted by path, group and
// partition, and how many there are in all (limit <= 0: all; for the admin
// console: no consistency wait, no call to the leader).
func (s *Storage) LocalGroupOffsets(limit int) ([]GroupOffset, int) {
	f, _, err := s.running()
	if err != nil {
		return nil, 0
	}
	return f.GroupOffsets(limit)
}
