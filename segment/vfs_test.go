package segment

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/flowmesh/flowmesh/internal/vfs"
)

// memConfig is testConfig on fsys with a FileCache of its own.
func memConfig(fsys vfs.FS) Config {
	c := testConfig()
	c.FS = fsys
	c.Files = NewFileCache(64)
	return c
}

func isLog(p string) bool { return strings.HasSuffix(p, logSuffix) }

// A failed fsync is returned to the caller and leaves the log failed (the
// kernel may have dropped the dirty pages: a later fsync that succeeds
// proves nothing). What a crash then leaves is the log up to its last
// successful Sync.
func TestSyncFailureIsReturnedAndLogKeepsSyncedPrefix(t *testing.T) {
	mem := vfs.NewMem()
	inj := vfs.Inject(mem)
	l, err := Open("/data/log", memConfig(inj))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 0, 10)
	if err := l.Sync(); err != nil {
		t.Fatalf("first Sync: %v", err)
	}
	appendN(t, l, 10, 5)
	fired := inj.Fail(vfs.Rule{Op: vfs.OpSync, Match: isLog})
	err = l.Sync()
	var ie *vfs.InjectedError
	if !errors.As(err, &ie) || ie.Op != vfs.OpSync || !isLog(ie.Path) {
		t.Fatalf("Sync after an injected fsync failure = %v, want the *vfs.InjectedError", err)
	}
	if fired() != 1 {
		t.Fatalf("rule fired %d times, want 1", fired())
	}
	if err := l.Sync(); err == nil {
		t.Fatalf("Sync after a failed fsync succeeded; the log must stay failed")
	}
	if _, err := l.Append(rec(15)); err == nil {
		t.Fatalf("Append after a failed fsync succeeded; the log must stay failed")
	}
	// Readers still see everything that was published.
	checkRange(t, l, 0, 15)

	img := mem.CrashClone()
	l2, err := Open("/data/log", memConfig(img))
	if err != nil {
		t.Fatalf("Open of the crash image: %v", err)
	}
	defer l2.Close()
	checkRange(t, l2, 0, 10)
	if got, want := l2.LastIndex(), rec(9).Index; got != want {
		t.Fatalf("LastIndex after crash = %d, want %d", got, want)
	}
	l.Close()
}

// A write error fails the append, publishes nothing of the batch, and
// fails the log; a crash keeps what was synced.
func TestWriteFailureFailsAppendAndLog(t *testing.T) {
	mem := vfs.NewMem()
	inj := vfs.Inject(mem)
	l := openLog(t, "/log", memConfig(inj))
	appendN(t, l, 0, 4)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	inj.Fail(vfs.Rule{Op: vfs.OpWrite, Match: isLog})
	var ie *vfs.InjectedError
	if _, err := l.AppendBatch([]Record{rec(4), rec(5)}); !errors.As(err, &ie) {
		t.Fatalf("AppendBatch = %v, want the injected error", err)
	}
	if next := l.NextOffset(); next != 4 {
		t.Fatalf("NextOffset after a failed append = %d, want 4", next)
	}
	if _, err := l.Append(rec(4)); err == nil {
		t.Fatalf("Append after a write error succeeded; the log must stay failed")
	}
	checkRange(t, l, 0, 4)
}

// An injected ENOSPC is a full disk: ErrNoSpace, and the log stays writable.
func TestInjectedNoSpaceKeepsLogWritable(t *testing.T) {
	inj := vfs.Inject(vfs.NewMem())
	l := openLog(t, "/log", memConfig(inj))
	appendN(t, l, 0, 3)
	inj.Fail(vfs.Rule{Op: vfs.OpWrite, Match: isLog, Err: syscall.ENOSPC})
	if _, err := l.Append(rec(3)); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Append on a full disk = %v, want ErrNoSpace", err)
	}
	appendN(t, l, 3, 2)
	checkRange(t, l, 0, 5)
}

// A crash loses the entries of directories not synced since: a roll syncs
// the directory, so the new segment survives; unsynced appends to it do
// not, and the sealed segment is intact.
func TestCrashAfterRollKeepsSealedSegment(t *testing.T) {
	mem := vfs.NewMem()
	cfg := memConfig(mem)
	l := openLog(t, "/log", cfg)
	appendN(t, l, 0, 20)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 20, 7)
	img := mem.CrashClone()
	l2, err := Open("/log", memConfig(img))
	if err != nil {
		t.Fatalf("Open of the crash image: %v", err)
	}
	defer l2.Close()
	checkRange(t, l2, 0, 20)
	if segs := l2.Segments(); len(segs) != 2 || !segs[0].Sealed {
		t.Fatalf("segments after crash = %+v, want a sealed one and an empty active one", segs)
	}
	appendN(t, l2, 20, 3)
	checkRange(t, l2, 0, 23)
}

// Truncate rewrites the segment that keeps a prefix into a new file and
// renames it in. A crash right after keeps the cut; a failed step fails
// the log, and a crash then keeps at least every record below the cut
// (records above it may survive: Truncate is not atomic across a crash).
func TestTruncateUnderFaultsKeepsPrefix(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule *vfs.Rule
	}{
		{"completed", nil},
		{"tmp write fails", &vfs.Rule{Op: vfs.OpWrite, Match: func(p string) bool { return strings.HasSuffix(p, tmpSuffix) }}},
		{"index rename fails", &vfs.Rule{Op: vfs.OpRename, Match: func(p string) bool { return strings.HasSuffix(p, idxSuffix) }}},
		{"data rename fails", &vfs.Rule{Op: vfs.OpRename, Match: isLog}},
		{"directory fsync fails", &vfs.Rule{Op: vfs.OpSync, Match: func(p string) bool { return p == "/log" }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			inj := vfs.Inject(mem)
			l := openLog(t, "/log", memConfig(inj))
			appendN(t, l, 0, 30)
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			var fired func() int
			if tc.rule != nil {
				fired = inj.Fail(*tc.rule)
			}
			err := l.Truncate(17)
			switch {
			case tc.rule == nil && err != nil:
				t.Fatalf("Truncate: %v", err)
			case tc.rule != nil:
				if fired() != 1 || !errors.As(err, new(*vfs.InjectedError)) {
					t.Fatalf("Truncate = %v (rule fired %d times), want the injected error", err, fired())
				}
				if _, err := l.Append(rec(17)); err == nil {
					t.Fatal("Append after a failed Truncate succeeded; the log must stay failed")
				}
			}
			l2, err := Open("/log", memConfig(mem.CrashClone()))
			if err != nil {
				t.Fatalf("Open of the crash image: %v", err)
			}
			defer l2.Close()
			next := l2.NextOffset()
			if tc.rule == nil && next != 17 || next != 17 && next != 30 {
				t.Fatalf("NextOffset after crash = %d, want 17 (or 30 if the cut was lost)", next)
			}
			checkRange(t, l2, 0, next)
		})
	}
}
