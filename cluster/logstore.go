package cluster

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// Log stores. bbolt (boltStore, in raft-boltdb's file layout) is the default
// (DESIGN.md). raft-wal is opt-in:
// it appends with one fdatasync per write instead of bolt's two (data pages,
// then the meta page), which on this hardware nearly doubles commit rates
// (BENCHMARKS.md), but its authors still call it experimental.
const (
	LogStoreBolt = "boltdb"
	LogStoreWAL  = "wal"
)

// walStore closes the WAL's meta database too: raft-wal v0.4.0's Close
// leaves it open, and its file lock then blocks a reopen in the same process.
type walStore struct {
	*raftwal.WAL
	meta *metadb.BoltMetaDB
}

func (w *walStore) Close() error {
	err := w.WAL.Close()
	if cerr := w.meta.Close(); err == nil {
		err = cerr
	}
	return err
}

// stableLogStore is raft's log and stable store in one.
type stableLogStore interface {
	raft.LogStore
	raft.StableStore
	io.Closer
}

// openLogStore opens the configured store under dir (DataDir/raft): bolt in
// raft.db, the WAL in wal/. A data dir keeps the store it was created with.
func openLogStore(dir, kind string) (stableLogStore, error) {
	switch kind {
	case "", LogStoreBolt:
		if _, err := os.Stat(filepath.Join(dir, "wal")); err == nil {
			return nil, fmt.Errorf("cluster: %s holds a raft-wal log; start with the %q log store", dir, LogStoreWAL)
		}
		bolt, err := openBoltStore(filepath.Join(dir, "raft.db"))
		if err != nil {
			return nil, fmt.Errorf("cluster: open raft.db: %w", err)
		}
		return bolt, nil
	case LogStoreWAL:
		if _, err := os.Stat(filepath.Join(dir, "raft.db")); err == nil {
			return nil, fmt.Errorf("cluster: %s holds a bolt raft log (raft.db); start with the %q log store", dir, LogStoreBolt)
		}
		wdir := filepath.Join(dir, "wal")
		if err := os.MkdirAll(wdir, 0o755); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		meta := &metadb.BoltMetaDB{}
		w, err := raftwal.Open(wdir, raftwal.WithMetaStore(meta))
		if err != nil {
			meta.Close()
			return nil, fmt.Errorf("cluster: open raft-wal: %w", err)
		}
		return &walStore{WAL: w, meta: meta}, nil
	}
	return nil, fmt.Errorf("cluster: unknown log store %q (want %q or %q)", kind, LogStoreBolt, LogStoreWAL)
}
