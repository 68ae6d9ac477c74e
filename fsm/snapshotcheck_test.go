package fsm

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/fsm/fsmpb"
)

func checkpointBytes(t testing.TB, cp *fsmpb.Checkpoint) []byte {
	t.Helper()
	b, err := proto.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func validCheckpoint() *fsmpb.Checkpoint {
	cp := &fsmpb.Checkpoint{Index: 7, Stamp: 1_000_000_000, NextResourceId: 2}
	m := proto.Clone(createCmd(flowmesh.KindKV, "kv").GetCreateResource().GetResource()).(*fsmpb.Resource)
	m.Id = 1
	cp.Resources = append(cp.Resources, m)
	return cp
}

// TestCheckSnapshotDir: a snapshot's checkpoint must be present, non-empty,
// decodable, at an index above 0 and pass Open's checks; CheckSnapshotDir
// changes nothing either way.
func TestCheckSnapshotDir(t *testing.T) {
	good := validCheckpoint()
	zero := validCheckpoint()
	zero.Index = 0
	dup := validCheckpoint()
	dup.Resources = append(dup.Resources, dup.Resources[0])
	cases := []struct {
		name string
		data []byte // nil: no checkpoint file
		ok   bool
	}{
		{"valid", checkpointBytes(t, good), true},
		{"missing", nil, false},
		{"empty", []byte{}, false},
		{"undecodable", []byte{0xff, 0xff, 0xff}, false},
		{"index 0", checkpointBytes(t, zero), false},
		{"index past MaxInt64", checkpointBytes(t, &fsmpb.Checkpoint{Index: 1 << 63}), false},
		{"repeated resource", checkpointBytes(t, dup), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.data != nil {
				if err := os.WriteFile(filepath.Join(dir, checkpointFile), tc.data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			index, err := CheckSnapshotDir(dir)
			if tc.ok {
				if err != nil || index != good.Index {
					t.Fatalf("CheckSnapshotDir = %d, %v; want %d", index, err, good.Index)
				}
			} else if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("CheckSnapshotDir = %d, %v; want ErrBadSnapshot", index, err)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.data != nil]; len(entries) != want {
				t.Errorf("the directory now has %d entries, want %d", len(entries), want)
			}
		})
	}
}

// FuzzCheckSnapshotDir: arbitrary checkpoint bytes are refused with
// ErrBadSnapshot or accepted with their index; nothing panics, and what it
// accepts Open accepts too.
func FuzzCheckSnapshotDir(f *testing.F) {
	real := checkpointBytes(f, validCheckpoint())
	f.Add(real)
	f.Add(real[:len(real)/2])
	f.Add([]byte{})
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		d := filepath.Join(dir, fmt.Sprint(n))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(d)
		if err := os.WriteFile(filepath.Join(d, checkpointFile), data, 0o644); err != nil {
			t.Fatal(err)
		}
		index, err := CheckSnapshotDir(d)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v does not match ErrBadSnapshot", err)
			}
			return
		}
		if index == 0 {
			t.Fatal("accepted a checkpoint at index 0")
		}
		cfg := DefaultConfig(d)
		cfg.Logger = slog.New(slog.DiscardHandler)
		cfg.OnFatal = func(err error) { t.Errorf("fatal: %v", err) }
		fm, err := Open(cfg)
		if err != nil {
			t.Fatalf("CheckSnapshotDir accepted a checkpoint Open refuses: %v", err)
		}
		fm.Close()
	})
}
