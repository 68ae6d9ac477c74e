package cluster

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
	"go.etcd.io/bbolt"
)

// fixtureLogs are the entries testdata/raft-boltdb-v2.3.1.db was written
// with (by raft-boltdb v2.3.1's StoreLogs, then DeleteRange(3, 4)).
func fixtureLogs() []*raft.Log {
	at := time.Date(2026, 12, 3, 16, 30, 0, 123456789, time.UTC)
	var logs []*raft.Log
	for i := uint64(1); i <= 9; i++ {
		l := &raft.Log{Index: i, Term: 1 + i/4, Type: raft.LogCommand, Data: []byte{byte(i), 0, 0xff, 'x'}, AppendedAt: at.Add(time.Duration(i) * time.Millisecond)}
		switch i {
		case 1:
			l.Type, l.Data = raft.LogConfiguration, raft.EncodeConfiguration(raft.Configuration{Servers: []raft.Server{{ID: "a", Address: "127.0.0.1:7401"}}})
		case 2:
			l.Type, l.Data = raft.LogNoop, nil
		case 6:
			l.Extensions = []byte("ext")
		case 8:
			l.AppendedAt = time.Time{}
		}
		logs = append(logs, l)
	}
	return logs
}

func sameLog(t *testing.T, got, want *raft.Log) {
	t.Helper()
	if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
		!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) || !got.AppendedAt.Equal(want.AppendedAt) {
		t.Errorf("entry %d = %+v, want %+v", want.Index, got, want)
	}
}

// TestBoltStoreReadsRaftBoltDB opens a raft.db that raft-boltdb v2.3.1
// wrote (the store every data dir before ours has): every entry and stable
// key reads back, and an entry we encode is byte for byte what it stored.
func TestBoltStoreReadsRaftBoltDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	copyFile(t, "testdata/raft-boltdb-v2.3.1.db", path)
	s, err := openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if first, err := s.FirstIndex(); err != nil || first != 1 {
		t.Errorf("FirstIndex = %d, %v; want 1", first, err)
	}
	if last, err := s.LastIndex(); err != nil || last != 9 {
		t.Errorf("LastIndex = %d, %v; want 9", last, err)
	}
	for _, want := range fixtureLogs() {
		var got raft.Log
		err := s.GetLog(want.Index, &got)
		if want.Index == 3 || want.Index == 4 {
			if !errors.Is(err, raft.ErrLogNotFound) {
				t.Errorf("GetLog(%d) of a deleted entry = %v, want ErrLogNotFound", want.Index, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("GetLog(%d): %v", want.Index, err)
		}
		sameLog(t, &got, want)
	}
	for k, want := range map[string]uint64{"CurrentTerm": 7, "LastVoteTerm": 6} {
		if v, err := s.GetUint64([]byte(k)); err != nil || v != want {
			t.Errorf("GetUint64(%s) = %d, %v; want %d", k, v, err, want)
		}
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "127.0.0.1:7401" {
		t.Errorf("Get(LastVoteCand) = %q, %v", v, err)
	}
	if _, err := s.Get([]byte("missing")); err == nil || err.Error() != "not found" {
		t.Errorf("Get(missing) = %v, want raft's \"not found\"", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Same bytes as raft-boltdb: a file we write reads back in older
	// builds, and a mixed-version cluster's entries look alike.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for _, l := range fixtureLogs() {
			stored := tx.Bucket(boltLogs).Get(indexKey(l.Index))
			if stored == nil {
				continue
			}
			var buf bytes.Buffer
			if err := codec.NewEncoder(&buf, logHandle()).Encode(l); err != nil {
				return err
			}
			if !bytes.Equal(buf.Bytes(), stored) {
				t.Errorf("entry %d encodes as %x, raft-boltdb stored %x", l.Index, buf.Bytes(), stored)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBoltStore: entries and stable keys survive a reopen; DeleteRange is
// inclusive; an empty log has indexes 0; a missing entry is ErrLogNotFound.
func TestBoltStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "raft.db")
	s, err := openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 0 {
		t.Errorf("empty FirstIndex = %d", first)
	}
	if last, _ := s.LastIndex(); last != 0 {
		t.Errorf("empty LastIndex = %d", last)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Errorf("GetUint64 on a fresh store = %v, want \"not found\"", err)
	}
	logs := fixtureLogs()
	if err := s.StoreLog(logs[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(logs[1:]); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(2, 4); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 1<<40); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("odd"), []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUint64([]byte("odd")); err == nil {
		t.Error("GetUint64 of a 3-byte value: no error")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = openBoltStore(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []uint64
	for _, want := range logs {
		var l raft.Log
		switch err := s.GetLog(want.Index, &l); {
		case errors.Is(err, raft.ErrLogNotFound):
		case err != nil:
			t.Fatal(err)
		default:
			sameLog(t, &l, want)
			got = append(got, l.Index)
		}
	}
	if !reflect.DeepEqual(got, []uint64{1, 5, 6, 7, 8, 9}) {
		t.Errorf("entries after DeleteRange(2, 4) = %v", got)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 1<<40 {
		t.Errorf("CurrentTerm = %d, %v", v, err)
	}
	if err := s.DeleteRange(1, 9); err != nil {
		t.Fatal(err)
	}
	if first, _ := s.FirstIndex(); first != 0 {
		t.Errorf("FirstIndex after deleting everything = %d", first)
	}
}
