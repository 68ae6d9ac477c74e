//go:build linux

package segment

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// smallFS mounts a tmpfs of size bytes, unmounted at cleanup; it skips the
// test when it cannot (not root, no mount).
func smallFS(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs for a small filesystem")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs at %s: %v: %s", dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillFS writes path until its filesystem has not one byte left.
func fillFS(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for _, n := range []int{64 << 10, 4096, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

func checkRecords(t *testing.T, l *Log, n uint64) {
	t.Helper()
	if got := l.NextOffset(); got != n {
		t.Fatalf("NextOffset = %d, want %d", got, n)
	}
	for off := uint64(0); off < n; {
		rs, err := l.Read(off, 100, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		for _, r := range rs {
			want := rec(r.Offset)
			want.Offset = r.Offset
			if !sameRecord(r, want) {
				t.Fatalf("record %d = %+v, want %+v", r.Offset, r, want)
			}
		}
		off += uint64(len(rs))
	}
}

// An append that finds the filesystem full returns ErrNoSpace and leaves
// the log writable: the same batch, appended once there is space, gets
// the same offsets, and recovery finds exactly the records appended.
func TestAppendBatchNoSpace(t *testing.T) {
	mnt := smallFS(t, 1<<20)
	dir := filepath.Join(mnt, "log")
	l := openLog(t, dir, testConfig())
	appendN(t, l, 0, 50)
	filler := filepath.Join(mnt, "filler")
	fillFS(t, filler)
	var batch []Record
	for i := uint64(50); i < 150; i++ {
		batch = append(batch, rec(i))
	}
	for range 2 {
		if _, err := l.AppendBatch(batch); !errors.Is(err, ErrNoSpace) {
			t.Fatalf("AppendBatch on a full filesystem: %v, want ErrNoSpace", err)
		}
	}
	checkRecords(t, l, 50)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	off, err := l.AppendBatch(batch)
	if err != nil || off != 50 {
		t.Fatalf("AppendBatch once space returned = %d, %v; want offset 50", off, err)
	}
	appendN(t, l, 150, 10)
	checkRecords(t, l, 160)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, openLog(t, dir, testConfig()), 160)
}

// A log closed cleanly opens and is cut back to a raft index with not one
// byte free: the segment is cut in place, as no other name links it.
func TestTruncateAfterIndexNoSpace(t *testing.T) {
	mnt := smallFS(t, 1<<20)
	dir := filepath.Join(mnt, "log")
	l, err := Open(dir, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 300)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	fillFS(t, filepath.Join(mnt, "filler"))
	l = openLog(t, dir, testConfig())
	// rec(i).Index is i/3+1: index 51 ends at offset 152.
	if err := l.TruncateAfterIndex(51); err != nil {
		t.Fatalf("TruncateAfterIndex at 0 bytes free: %v", err)
	}
	checkRecords(t, l, 153)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, openLog(t, dir, testConfig()), 153)
}
