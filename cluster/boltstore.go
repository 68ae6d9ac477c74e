package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// boltStore is raft's log and stable store in one bbolt file (raft.db).
//
// Its layout is raft-boltdb v2's, so data dirs made before FlowMesh owned
// this store open unchanged (TestBoltStoreReadsRaftBoltDB reads a file that
// raft-boltdb v2.3.1 wrote): bucket "logs" maps an 8-byte big-endian index
// to the msgpack encoding of a raft.Log (go-msgpack v2, time.Time in the
// pre-v1.1.5 "non-builtin" form, raft's default), and bucket "conf" holds
// the stable store's keys (uint64 values big-endian). We keep our own
// rather than import raft-boltdb because v2.3.1 imports go-metrics' compat
// package, which the go-metrics that raft v1.8.0 and memberlist v0.7.0
// need no longer has: with it, no user's module could build the SDK
// without a replace line (README, "Use it from Go").
//
// Every write is one bbolt transaction, fsynced on commit.
type boltStore struct {
	db *bbolt.DB
}

var (
	boltLogs = []byte("logs")
	boltConf = []byte("conf")
)

// errKeyNotFound is what Get returns for a missing key. raft tells a fresh
// stable store from a broken one by this exact text ("not found").
var errKeyNotFound = errors.New("not found")

var _ stableLogStore = (*boltStore)(nil)

// openBoltStore opens (creating) the store at path.
func openBoltStore(path string) (*boltStore, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoFreelistSync: true})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("%s is locked by another process (another node on this data dir?)", path)
	}
	if err != nil {
		return nil, err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{boltLogs, boltConf} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &boltStore{db: db}, nil
}

func (s *boltStore) Close() error { return s.db.Close() }

func indexKey(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// FirstIndex returns the oldest stored index, 0 when the log is empty.
func (s *boltStore) FirstIndex() (uint64, error) {
	return s.edge(func(c *bbolt.Cursor) ([]byte, []byte) { return c.First() })
}

// LastIndex returns the newest stored index, 0 when the log is empty.
func (s *boltStore) LastIndex() (uint64, error) {
	return s.edge(func(c *bbolt.Cursor) ([]byte, []byte) { return c.Last() })
}

func (s *boltStore) edge(move func(*bbolt.Cursor) ([]byte, []byte)) (idx uint64, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		if k, _ := move(tx.Bucket(boltLogs).Cursor()); len(k) == 8 {
			idx = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return idx, err
}

// GetLog reads the entry at index into log (raft.ErrLogNotFound if absent).
func (s *boltStore) GetLog(index uint64, log *raft.Log) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(boltLogs).Get(indexKey(index))
		if v == nil {
			return raft.ErrLogNotFound
		}
		// Decoding copies what it keeps, so nothing refers to bbolt's
		// mmap after the transaction.
		if err := codec.NewDecoderBytes(v, logHandle()).Decode(log); err != nil {
			return fmt.Errorf("cluster: raft log entry %d: %w", index, err)
		}
		return nil
	})
}

// StoreLog stores one entry.
func (s *boltStore) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one transaction: all or none are durable.
func (s *boltStore) StoreLogs(logs []*raft.Log) error {
	var buf bytes.Buffer
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(boltLogs)
		for _, l := range logs {
			buf.Reset()
			if err := codec.NewEncoder(&buf, logHandle()).Encode(l); err != nil {
				return fmt.Errorf("cluster: encode raft log entry %d: %w", l.Index, err)
			}
			// bbolt keeps the slice until commit: give each entry its own.
			if err := b.Put(indexKey(l.Index), bytes.Clone(buf.Bytes())); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteRange removes the entries from min to max, inclusive.
func (s *boltStore) DeleteRange(min, max uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		c := tx.Bucket(boltLogs).Cursor()
		for k, _ := c.Seek(indexKey(min)); k != nil && binary.BigEndian.Uint64(k) <= max; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Set stores a stable-store key.
func (s *boltStore) Set(k, v []byte) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(boltConf).Put(k, v) })
}

// Get returns a copy of a stable-store key's value (errKeyNotFound if absent).
func (s *boltStore) Get(k []byte) (v []byte, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		got := tx.Bucket(boltConf).Get(k)
		if got == nil {
			return errKeyNotFound
		}
		v = bytes.Clone(got)
		return nil
	})
	return v, err
}

// SetUint64 stores a stable-store key holding a uint64.
func (s *boltStore) SetUint64(k []byte, v uint64) error { return s.Set(k, indexKey(v)) }

// GetUint64 reads a key SetUint64 stored (errKeyNotFound if absent).
func (s *boltStore) GetUint64(k []byte) (uint64, error) {
	v, err := s.Get(k)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("cluster: raft stable key %q holds %d bytes, want 8", k, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// logHandle is the msgpack encoding of raft.Log in raft.db, fixed by the
// files already on disk (see boltStore).
func logHandle() *codec.MsgpackHandle {
	return &codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}}
}
