package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
)

// raft's stable-store keys (hashicorp/raft api.go): the current term, and
// the term and candidate of the last vote. ConvertLogStore copies them.
var (
	stableUint64Keys = [][]byte{[]byte("CurrentTerm"), []byte("LastVoteTerm")}
	stableBytesKeys  = [][]byte{[]byte("LastVoteCand")}
)

// convertBatchBytes bounds one StoreLogs of ConvertLogStore (entries are
// up to 512 KiB each).
const convertBatchBytes = 16 << 20

// ConvertResult is what ConvertLogStore did.
type ConvertResult struct {
	From, To    string
	First, Last uint64 // the log's range (0, 0: empty)
	Backup      string // where the old store now is
}

// ConvertLogStore moves the raft log and stable store in raftDir
// (DataDir/raft) to the store kind to, offline: the caller holds the data
// dir's lock. It copies every entry and raft's stable keys (CurrentTerm,
// LastVoteTerm, LastVoteCand) into a new store in raftDir/convert-tmp,
// closes and reopens it and compares every entry and key with the old
// store, then renames the new store into place, and the old one to
// Backup (raft.db.bak-TIME or wal.bak-TIME, next to it; nothing deletes
// it), and fsyncs raftDir. The new store goes in before the old one goes
// out: a crash between the two renames leaves both, which a node refuses
// to start with (DetectLogStore), never neither, which it would take for
// a new, empty log. A leftover convert-tmp from an interrupted run is
// removed first.
func ConvertLogStore(raftDir, to string) (ConvertResult, error) {
	res := ConvertResult{To: to}
	if to != LogStoreBolt && to != LogStoreWAL {
		return res, fmt.Errorf("cluster: unknown log store %q (want %q or %q)", to, LogStoreWAL, LogStoreBolt)
	}
	from, err := DetectLogStore(raftDir)
	if err != nil {
		return res, err
	}
	res.From = from
	switch from {
	case "":
		return res, fmt.Errorf("cluster: %s holds no raft log (neither %s nor %s/)", raftDir, boltFileName, walDirName)
	case to:
		return res, fmt.Errorf("cluster: %s already holds a %s raft log", raftDir, to)
	}
	tmp := filepath.Join(raftDir, "convert-tmp")
	if err := os.RemoveAll(tmp); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	if err := os.Mkdir(tmp, 0o755); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	src, err := openLogStore(raftDir, from)
	if err != nil {
		return res, err
	}
	defer src.Close()
	if res.First, res.Last, err = copyLogStore(src, tmp, to); err != nil {
		return res, err
	}
	dst, err := openLogStore(tmp, to)
	if err != nil {
		return res, fmt.Errorf("cluster: reopen the converted store: %w", err)
	}
	err = verifyLogStore(src, dst)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, fmt.Errorf("cluster: verify the converted store: %w", err)
	}
	if err := src.Close(); err != nil {
		return res, fmt.Errorf("cluster: close the %s store: %w", from, err)
	}

	oldName, newName := storeFileName(from), storeFileName(to)
	res.Backup = filepath.Join(raftDir, oldName+".bak-"+time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(filepath.Join(tmp, newName), filepath.Join(raftDir, newName)); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	if err := os.Rename(filepath.Join(raftDir, oldName), res.Backup); err != nil {
		return res, fmt.Errorf("cluster: move the %s store aside (%s now holds both; move %s away by hand): %w", from, raftDir, oldName, err)
	}
	if err := syncDir(raftDir); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return res, fmt.Errorf("cluster: %w", err)
	}
	return res, nil
}

func storeFileName(kind string) string {
	if kind == LogStoreBolt {
		return boltFileName
	}
	return walDirName
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// copyLogStore creates a store of kind in dir and copies src into it.
func copyLogStore(src stableLogStore, dir, kind string) (first, last uint64, err error) {
	dst, err := openLogStore(dir, kind)
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: create the %s store: %w", kind, err)
	}
	defer func() {
		if cerr := dst.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("cluster: close the %s store: %w", kind, cerr)
		}
	}()
	if first, err = src.FirstIndex(); err == nil {
		last, err = src.LastIndex()
	}
	if err != nil {
		return 0, 0, fmt.Errorf("cluster: read the log's range: %w", err)
	}
	var batch []*raft.Log
	var size int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := dst.StoreLogs(batch); err != nil {
			return fmt.Errorf("cluster: store entries %d-%d: %w", batch[0].Index, batch[len(batch)-1].Index, err)
		}
		batch, size = batch[:0], 0
		return nil
	}
	for i := first; first > 0 && i <= last; i++ {
		l := new(raft.Log)
		if err := src.GetLog(i, l); err != nil {
			return 0, 0, fmt.Errorf("cluster: read entry %d: %w", i, err)
		}
		batch = append(batch, l)
		size += len(l.Data) + len(l.Extensions)
		if size >= convertBatchBytes || len(batch) >= 4096 {
			if err := flush(); err != nil {
				return 0, 0, err
			}
		}
	}
	if err := flush(); err != nil {
		return 0, 0, err
	}
	for _, k := range stableUint64Keys {
		v, err := src.GetUint64(k)
		if err != nil && !isNotFound(err) {
			return 0, 0, fmt.Errorf("cluster: read %s: %w", k, err)
		}
		if err == nil {
			if err := dst.SetUint64(k, v); err != nil {
				return 0, 0, fmt.Errorf("cluster: store %s: %w", k, err)
			}
		}
	}
	for _, k := range stableBytesKeys {
		v, err := src.Get(k)
		if err != nil && !isNotFound(err) {
			return 0, 0, fmt.Errorf("cluster: read %s: %w", k, err)
		}
		if err == nil && v != nil {
			if err := dst.Set(k, v); err != nil {
				return 0, 0, fmt.Errorf("cluster: store %s: %w", k, err)
			}
		}
	}
	return first, last, nil
}

// isNotFound reports a stable store's "no such key" (bolt's errKeyNotFound;
// raft-wal returns zero values instead).
func isNotFound(err error) bool { return errors.Is(err, errKeyNotFound) }

// verifyLogStore compares every entry and stable key of a and b.
func verifyLogStore(a, b stableLogStore) error {
	af, err1 := a.FirstIndex()
	al, err2 := a.LastIndex()
	bf, err3 := b.FirstIndex()
	bl, err4 := b.LastIndex()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return err
	}
	if af != bf || al != bl {
		return fmt.Errorf("range %d-%d, want %d-%d", bf, bl, af, al)
	}
	for i := af; af > 0 && i <= al; i++ {
		var x, y raft.Log
		if err := a.GetLog(i, &x); err != nil {
			return fmt.Errorf("entry %d of the old store: %w", i, err)
		}
		if err := b.GetLog(i, &y); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		if x.Index != y.Index || x.Term != y.Term || x.Type != y.Type || !bytes.Equal(x.Data, y.Data) ||
			!bytes.Equal(x.Extensions, y.Extensions) || !x.AppendedAt.Equal(y.AppendedAt) {
			return fmt.Errorf("entry %d differs", i)
		}
	}
	for _, k := range stableUint64Keys {
		x, errx := a.GetUint64(k)
		y, erry := b.GetUint64(k)
		if isNotFound(errx) {
			x, errx = 0, nil
		}
		if isNotFound(erry) {
			y, erry = 0, nil
		}
		if err := errors.Join(errx, erry); err != nil {
			return err
		}
		if x != y {
			return fmt.Errorf("%s is %d, want %d", k, y, x)
		}
	}
	for _, k := range stableBytesKeys {
		x, errx := a.Get(k)
		y, erry := b.Get(k)
		if isNotFound(errx) {
			x, errx = nil, nil
		}
		if isNotFound(erry) {
			y, erry = nil, nil
		}
		if err := errors.Join(errx, erry); err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return fmt.Errorf("%s is %q, want %q", k, y, x)
		}
	}
	return nil
}
