package cluster

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft-wal/metadb"
	walsegment "github.com/hashicorp/raft-wal/segment"
	waltypes "github.com/hashicorp/raft-wal/types"
)

// repairTruncatedSegments gives an index block to every segment raft-wal
// sealed by truncating the log's tail.
//
// raft drops a conflicting suffix of a follower's log (DeleteRange up to
// LastIndex) when a new leader's log disagrees with it. raft-wal v0.4.0
// does that by marking the tail segment sealed in its meta database, with
// a lower MaxIndex, and starting a new tail after it, but it never writes
// the index block a sealed segment is read through: the open store keeps
// reading it through its writer's in-memory index, and the next Open
// finds a sealed segment without one. raft then fails to read the log and
// the node panics on every start ("sealed segment has no index block",
// hashicorp/raft-wal#31; fixed upstream in v0.4.1, which is not available
// here; TestWALTailTruncationSurvivesReopen, and the jepsen suite's kv and
// txn runs found it).
//
// The repair, before raft-wal opens the directory: for each sealed segment
// whose meta has no index start, copy its entries BaseIndex..MaxIndex
// (the truncated ones past MaxIndex stay behind) into a new segment file
// under a new ID, sealed with its index block by the same append and
// fsynced with its directory, and list it in st instead of the old one
// (returned, for repairWAL to delete once st is committed). A crash before
// the commit leaves the old state (the new file is unlisted: this repair,
// or raft-wal's Open, deletes it); after it, only an unlisted old file,
// which raft-wal's Open deletes.
func repairTruncatedSegments(wdir string, vfs waltypes.VFS, log hclog.Logger, st *waltypes.PersistentState) ([]waltypes.SegmentInfo, error) {
	filer := walsegment.NewFiler(wdir, vfs)
	var replaced []waltypes.SegmentInfo
	for i, seg := range st.Segments {
		if seg.SealTime.IsZero() || seg.IndexStart != 0 {
			continue
		}
		if walRepairFailpoint == "before-copy" {
			return nil, errRepairFailpoint
		}
		fresh, err := resealSegment(wdir, filer, seg, st.NextSegmentID)
		if err != nil {
			return nil, fmt.Errorf("reseal the truncated segment %s: %w", walsegment.FileName(seg), err)
		}
		log.Info("raft-wal: resealed a segment sealed by a tail truncation (it had no index block, hashicorp/raft-wal#31)",
			"segment", walsegment.FileName(seg), "copy", walsegment.FileName(fresh), "first_index", seg.BaseIndex, "last_index", seg.MaxIndex)
		st.NextSegmentID++
		st.Segments[i] = fresh
		replaced = append(replaced, seg)
	}
	return replaced, nil
}

// repairWAL loads raft-wal's meta database once, makes both repairs in
// it (repairSealedTail, repairTruncatedSegments), commits what they
// changed in one transaction and then deletes the files the resealed
// segments replaced.
func repairWAL(wdir string, vfs waltypes.VFS, size int, log hclog.Logger) error {
	meta := &metadb.BoltMetaDB{}
	defer meta.Close()
	st, err := meta.Load(wdir)
	if err != nil {
		return err
	}
	rolled, err := repairSealedTail(wdir, vfs, size, &st)
	if err != nil {
		return err
	}
	replaced, err := repairTruncatedSegments(wdir, vfs, log, &st)
	if err != nil {
		return err
	}
	if !rolled && len(replaced) == 0 {
		return nil
	}
	if len(replaced) > 0 && walRepairFailpoint == "before-commit" {
		return errRepairFailpoint
	}
	if err := meta.CommitState(st); err != nil {
		return fmt.Errorf("commit the repaired segment list: %w", err)
	}
	if rolled {
		walRollsRepaired.Add(1)
	}
	walSegmentsResealed.Add(int64(len(replaced)))
	if len(replaced) > 0 && walRepairFailpoint == "before-delete" {
		return errRepairFailpoint
	}
	filer := walsegment.NewFiler(wdir, vfs)
	for _, seg := range replaced {
		// Not fatal: raft-wal's Open deletes files its meta does not list.
		_ = filer.Delete(seg.BaseIndex, seg.ID)
	}
	return nil
}

// resealSegment copies seg's entries BaseIndex..MaxIndex into a new
// segment file with ID id, sealed (index block written) and fsynced, and
// returns the new file's SegmentInfo.
func resealSegment(wdir string, filer *walsegment.Filer, seg waltypes.SegmentInfo, id uint64) (waltypes.SegmentInfo, error) {
	if seg.MaxIndex < seg.BaseIndex {
		return seg, fmt.Errorf("sealed segment ends at %d, before its base index %d", seg.MaxIndex, seg.BaseIndex)
	}
	// Read the old file the way raft-wal recovers a tail: its frames, not
	// its (missing) index. Every entry from BaseIndex is in it (a head
	// truncation only moves MinIndex).
	src := seg
	src.SealTime, src.MinIndex, src.MaxIndex, src.IndexStart = time.Time{}, seg.BaseIndex, 0, 0
	r, err := filer.RecoverTail(src)
	if err != nil {
		return seg, fmt.Errorf("read it: %w", err)
	}
	defer r.Close()
	if last := r.LastIndex(); last < seg.MaxIndex {
		return seg, fmt.Errorf("it holds entries up to %d, its meta says %d", last, seg.MaxIndex)
	}
	entries := make([]waltypes.LogEntry, 0, seg.MaxIndex-seg.BaseIndex+1)
	for idx := seg.BaseIndex; idx <= seg.MaxIndex; idx++ {
		buf, err := r.GetLog(idx)
		if err != nil {
			return seg, fmt.Errorf("read entry %d: %w", idx, err)
		}
		entries = append(entries, waltypes.LogEntry{Index: idx, Data: append([]byte(nil), buf.Bs...)})
		buf.Close()
	}

	fresh := waltypes.SegmentInfo{
		ID:        id,
		BaseIndex: seg.BaseIndex,
		MinIndex:  seg.MinIndex,
		MaxIndex:  seg.MaxIndex,
		Codec:     seg.Codec,
		// A limit below the first append's size makes that append seal
		// the segment: raft-wal writes the index frame before its commit
		// frame, in the one fsynced write.
		SizeLimit:  1,
		CreateTime: seg.CreateTime,
		SealTime:   seg.SealTime,
	}
	// A file left under this ID by a repair that crashed before its commit.
	if err := filer.Delete(fresh.BaseIndex, fresh.ID); err != nil && !errors.Is(err, os.ErrNotExist) {
		return seg, fmt.Errorf("remove an unlisted segment file: %w", err)
	}
	w, err := filer.Create(fresh)
	if err != nil {
		return seg, fmt.Errorf("create its copy: %w", err)
	}
	defer w.Close()
	if err := w.Append(entries); err != nil {
		return seg, fmt.Errorf("write its copy: %w", err)
	}
	sealed, indexStart, err := w.Sealed()
	if err != nil {
		return seg, err
	}
	if !sealed || indexStart == 0 {
		return seg, errors.New("its copy did not seal")
	}
	fresh.IndexStart = indexStart
	// raft-wal does not fsync the directory when it creates a segment;
	// the meta commit that lists this file must not outlive its name.
	if err := syncDir(wdir); err != nil {
		return seg, err
	}
	return fresh, nil
}

// walSegmentsResealed counts repairTruncatedSegments' repairs (for tests).
var walSegmentsResealed atomic.Int64

// walRepairFailpoint, set by tests, stops repairTruncatedSegments at a
// step as a crash there would ("before-copy", "before-commit",
// "before-delete").
var walRepairFailpoint string

var errRepairFailpoint = errors.New("cluster: test failpoint: repair stopped")
