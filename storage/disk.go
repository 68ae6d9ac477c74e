package storage

import (
	"fmt"
	"syscall"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/cluster"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

// Disk reserve defaults (see doc.go, "Disk full").
const (
	// DefaultDiskReserveBytes is the reserve on a large filesystem.
	DefaultDiskReserveBytes = 512 << 20
	// DefaultDiskReservePercent caps the default reserve on a small
	// filesystem: at most this share of its size.
	DefaultDiskReservePercent = 5
	// DefaultDiskCheckInterval is how often the free space is read.
	DefaultDiskCheckInterval = time.Second
)

// DiskStatus is the free space of the filesystem holding a node's data dir
// against the node's reserve.
type DiskStatus struct {
	Node    string
	Free    int64 // bytes available to the node (statfs f_bavail)
	Total   int64 // the filesystem's size
	Reserve int64
	Alarm   bool // Free < Reserve
	Err     string
}

// diskState is the node's last reading and the cluster's first short node.
type diskState struct {
	local DiskStatus
	// short is the node refusing growth: this one or a member that
	// gossips an alarm (nil: none).
	short *flowmesh.DiskFullError
	// members are the alarms gossip reports, with this node's own.
	members []DiskStatus
}

// statfs reads free and total bytes of the filesystem holding dir.
func statfs(dir string) (free, total int64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, fmt.Errorf("storage: statfs %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), int64(st.Blocks) * int64(st.Bsize), nil
}

// reserveFor is the configured reserve, or the default for a filesystem of
// total bytes.
func (s *Storage) reserveFor(total int64) int64 {
	switch {
	case s.cfg.DiskReserveBytes > 0:
		return s.cfg.DiskReserveBytes
	case s.cfg.DiskReserveBytes < 0:
		return 0
	}
	return min(int64(DefaultDiskReserveBytes), total*DefaultDiskReservePercent/100)
}

// checkDisk reads the local free space and recomputes the cluster's alarm.
// id is the node's ID; c is nil at start-up, before raft is open.
func (s *Storage) checkDisk(id string, c *cluster.Cluster) {
	local := DiskStatus{Node: id}
	free, total, err := statfs(s.cfg.DataDir)
	if err != nil {
		// Keep the last reading: a failing statfs says nothing about space.
		if prev := s.disk.Load(); prev != nil {
			local = prev.local
		}
		local.Err = err.Error()
	} else {
		local.Reserve = s.reserveFor(total)
		free = s.tendBallast(free, local.Reserve, c == nil)
		local.Free, local.Total = free, total
		prev := s.disk.Load()
		switch {
		case local.Reserve <= 0:
		case prev != nil && prev.local.Alarm && prev.local.Err == "":
			// Hysteresis: clear only clearMargin above the reserve.
			local.Alarm = free < local.Reserve+clearMargin(local.Reserve)
		default:
			local.Alarm = free < local.Reserve
		}
	}
	if s.fsm != nil && s.fsm.Stalled() {
		local.Alarm = true // Apply waits for space, whatever statfs says
	}
	st := &diskState{local: local, members: []DiskStatus{local}}
	if local.Alarm {
		st.short = &flowmesh.DiskFullError{Node: id, Free: local.Free, Reserve: local.Reserve}
	}
	if m := s.members.Load(); m != nil && c != nil {
		inConfig := map[string]bool{}
		if servers, err := c.Servers(); err == nil {
			for _, sv := range servers {
				inConfig[sv.ID] = true
			}
		}
		for _, mb := range m.Members() {
			if mb.ID == id || mb.Status == cluster.StatusLeft {
				continue
			}
			// Others gossip their free space and reserve only under an alarm.
			st.members = append(st.members, DiskStatus{Node: mb.ID, Free: mb.DiskFree, Reserve: mb.DiskReserve, Alarm: mb.DiskAlarm})
			if !mb.DiskAlarm {
				continue
			}
			// Every server in the configuration applies every entry,
			// non-voters too; a dead one's alarm is kept: it returns
			// with the same disk.
			if st.short == nil && inConfig[mb.ID] {
				st.short = &flowmesh.DiskFullError{Node: mb.ID, Free: mb.DiskFree, Reserve: mb.DiskReserve}
			}
		}
	}
	prev := s.disk.Swap(st)
	switch {
	case local.Alarm && (prev == nil || !prev.local.Alarm):
		s.log.Error("disk alarm raised: refusing writes that grow the data", "free_bytes", local.Free, "reserve_bytes", local.Reserve, "data_dir", s.cfg.DataDir)
	case !local.Alarm && prev != nil && prev.local.Alarm && local.Err == "":
		s.log.Info("disk alarm cleared", "free_bytes", local.Free, "reserve_bytes", local.Reserve)
	}
	if (st.short == nil) != (prev == nil || prev.short == nil) {
		if st.short != nil {
			s.log.Warn("cluster disk alarm: refusing writes that grow the data", "node", st.short.Node, "free_bytes", st.short.Free, "reserve_bytes", st.short.Reserve)
		} else {
			s.log.Info("cluster disk alarm cleared")
		}
	}
}

// noSpace is the FSM's OnNoSpace and the raft log's OnLogNoSpace: Apply
// could not write a committed entry, or raft an entry. It releases the
// running ballast, so the entries already committed can be written, and
// raises the alarm at once rather than at the next statfs, so that no more
// growth is admitted meanwhile.
func (s *Storage) noSpace(id string) {
	s.releaseBallast(ballastFile, "a write to the data dir failed for want of space")
	prev := s.disk.Load()
	if prev == nil || prev.local.Alarm {
		return
	}
	local := prev.local
	local.Alarm = true
	local.Free = 0
	st := &diskState{local: local, short: &flowmesh.DiskFullError{Node: id, Free: 0, Reserve: local.Reserve}}
	st.members = append([]DiskStatus{local}, prev.members[1:]...)
	if s.disk.CompareAndSwap(prev, st) {
		s.log.Error("disk alarm raised: no space to apply a committed entry; refusing writes that grow the data", "reserve_bytes", local.Reserve, "data_dir", s.cfg.DataDir)
	}
}

// diskFullHere is the error of a write this node could not store for want
// of space: its alarm (raised by noSpace), or one naming it.
func (s *Storage) diskFullHere() error {
	if err := s.DiskAlarm(); err != nil {
		return err
	}
	st := s.disk.Load()
	e := &flowmesh.DiskFullError{}
	if st != nil {
		e.Node, e.Reserve = st.local.Node, st.local.Reserve
	}
	return e
}

// diskLoop reads the free space every DiskCheckInterval.
func (s *Storage) diskLoop(id string) {
	t := time.NewTicker(s.cfg.DiskCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.checkDisk(id, s.cluster)
		}
	}
}

// gossipDisk is the membership's Disk callback.
func (s *Storage) gossipDisk() (alarm bool, free, reserve int64) {
	st := s.disk.Load()
	if st == nil {
		return false, 0, 0
	}
	return st.local.Alarm, st.local.Free, st.local.Reserve
}

// Disk reports this node's free space and reserve (the first element),
// then every other member gossip reports (not left) with its alarm; their
// Free and Reserve are known only under an alarm (zero otherwise). It is
// at most DiskCheckInterval old.
func (s *Storage) Disk() []DiskStatus {
	st := s.disk.Load()
	if st == nil {
		return nil
	}
	return append([]DiskStatus(nil), st.members...)
}

// LocalDisk returns this node's free bytes, reserve and alarm, as last read.
func (s *Storage) LocalDisk() (free, reserve int64, alarm bool) {
	st := s.disk.Load()
	if st == nil {
		return 0, 0, false
	}
	return st.local.Free, st.local.Reserve, st.local.Alarm
}

// DiskAlarm returns the *flowmesh.DiskFullError that refuses growth now,
// or nil.
func (s *Storage) DiskAlarm() error {
	if st := s.disk.Load(); st != nil && st.short != nil {
		return st.short
	}
	return nil
}

// admitDisk refuses cmd with a *flowmesh.DiskFullError while a node is
// short of disk, unless cmd frees space or is needed to (see growth).
func (s *Storage) admitDisk(cmd *fsmpb.Command) error {
	st := s.disk.Load()
	if st == nil || st.short == nil || !growth(cmd) {
		return nil
	}
	return st.short
}

// growth reports whether cmd adds data. Deletes, purges, trims (of stream
// partitions and KV history), acks and expiries free space; reserves,
// nacks, touches and offset commits are how consumers drain what is
// stored (each is a small raft entry, which the reserve absorbs until a
// snapshot compacts the log); quotas are admin calls. Everything else,
// new commands included, counts as growth.
func growth(cmd *fsmpb.Command) bool {
	switch cmd.GetOp().(type) {
	case *fsmpb.Command_DeleteResource, *fsmpb.Command_TrimPartition, *fsmpb.Command_Purge,
		*fsmpb.Command_Ack, *fsmpb.Command_AckBatch, *fsmpb.Command_KvDelete, *fsmpb.Command_KvExpire, *fsmpb.Command_KvTrimHistory,
		*fsmpb.Command_Reserve, *fsmpb.Command_ReserveBatch, *fsmpb.Command_Nack, *fsmpb.Command_Touch,
		*fsmpb.Command_CommitOffset, *fsmpb.Command_SetQuota, *fsmpb.Command_Noop:
		return false
	case *fsmpb.Command_Txn:
		return txnGrowth(cmd.GetTxn())
	}
	return true
}

// SegmentBytes is the size on disk of every resource's logs on this node
// (fsm.FSM.ResourceBytes), 0 while the node is not running.
func (s *Storage) SegmentBytes() int64 {
	f, _, err := s.running()
	if err != nil {
		return 0
	}
	return f.ResourceBytes()
}
