package cluster

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"
)

// Crash safety of the WAL log store (the default), tested as segment/ is:
// a tail cut at every byte, bit flips, a power cut that loses what was not
// fsynced (with a failpoint that skips the fsync, to show the test can
// fail), and a SIGKILL loop with a child process.

// crashEntry is the entry the crash tests store at index idx: its content
// follows from idx, so a reader can tell a right entry from a wrong one.
func crashEntry(idx uint64) *raft.Log {
	p := make([]byte, int(idx*7919%61)+1)
	for i := range p {
		p[i] = byte(idx>>(i%8*8)) ^ byte(i*31)
	}
	return &raft.Log{Index: idx, Term: idx/16 + 1, Type: raft.LogCommand, Data: p,
		AppendedAt: time.Unix(1700000000, int64(idx)*1000).UTC()}
}

func sameEntry(got, want *raft.Log) bool {
	return got.Index == want.Index && got.Term == want.Term && got.Type == want.Type &&
		bytes.Equal(got.Data, want.Data) && len(got.Extensions) == len(want.Extensions) &&
		got.AppendedAt.Equal(want.AppendedAt)
}

// storeCrashBatch stores entries first..first+n-1.
func storeCrashBatch(s raft.LogStore, first uint64, n int) error {
	logs := make([]*raft.Log, n)
	for i := range logs {
		logs[i] = crashEntry(first + uint64(i))
	}
	return s.StoreLogs(logs)
}

// prefixReport is what checkPrefix found in a reopened store.
type prefixReport struct {
	last     uint64 // LastIndex
	detected int    // entries GetLog refused (checksum)
}

// checkPrefix reports whether s holds a prefix of the crash entries:
// FirstIndex 1 (or empty), and every entry up to LastIndex either exactly
// crashEntry(i) or refused with an error when allowErr. A wrong entry
// served as valid is an error, always.
func checkPrefix(s raft.LogStore, allowErr bool) (prefixReport, error) {
	var r prefixReport
	first, err := s.FirstIndex()
	if err != nil {
		return r, fmt.Errorf("FirstIndex: %w", err)
	}
	if r.last, err = s.LastIndex(); err != nil {
		return r, fmt.Errorf("LastIndex: %w", err)
	}
	if r.last > 0 && first != 1 || r.last == 0 && first != 0 {
		return r, fmt.Errorf("first index %d, last %d", first, r.last)
	}
	for i := uint64(1); i <= r.last; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			if allowErr && !errors.Is(err, raft.ErrLogNotFound) {
				r.detected++
				continue
			}
			return r, fmt.Errorf("GetLog(%d) of %d: %w", i, r.last, err)
		}
		if !sameEntry(&l, crashEntry(i)) {
			return r, fmt.Errorf("GetLog(%d) served a wrong entry: index %d term %d %d bytes", i, l.Index, l.Term, len(l.Data))
		}
	}
	var l raft.Log
	if err := s.GetLog(r.last+1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		return r, fmt.Errorf("GetLog(%d) past the last index: %v", r.last+1, err)
	}
	return r, nil
}

// endVFS records, per file, where the last write ended.
type endVFS struct {
	types.VFS
	mu   sync.Mutex
	ends map[string]int64
}

type endFile struct {
	types.WritableFile
	v    *endVFS
	name string
}

func (v *endVFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	f, err := v.VFS.Create(dir, name, size)
	return &endFile{f, v, name}, err
}

func (f *endFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.WritableFile.WriteAt(p, off)
	f.v.mu.Lock()
	f.v.ends[f.name] = max(f.v.ends[f.name], off+int64(n))
	f.v.mu.Unlock()
	return n, err
}

// writeTailFixture stores batches of 1-4 entries into a new default store
// in dir and returns the newest segment file, the file offset where each
// batch ended, and the last index of each batch.
func writeTailFixture(t *testing.T, dir string, batches int) (seg string, ends []int64, lasts []uint64) {
	t.Helper()
	v := &endVFS{VFS: fs.New(), ends: map[string]int64{}}
	s, err := openLogStoreVFS(dir, LogStoreWAL, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	for b := 0; b < batches; b++ {
		n := b%4 + 1
		if err := storeCrashBatch(s, next, n); err != nil {
			t.Fatal(err)
		}
		next += uint64(n)
		v.mu.Lock()
		var name string
		for f := range v.ends {
			name = max(name, f)
		}
		ends = append(ends, v.ends[name])
		seg = filepath.Join(dir, walDirName, name)
		v.mu.Unlock()
		lasts = append(lasts, next-1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return seg, ends, lasts
}

// fileState saves files' bytes to restore them after each damaged reopen.
type fileState map[string][]byte

func saveFiles(t *testing.T, paths ...string) fileState {
	st := fileState{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		st[p] = b
	}
	return st
}

func (st fileState) restore(t *testing.T) {
	for p, b := range st {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// reopenAndCheck opens dir's store the way a node does and checks it.
func reopenAndCheck(dir string, allowErr bool) (prefixReport, error) {
	s, err := openLogStore(dir, LogStoreWAL)
	if err != nil {
		return prefixReport{}, fmt.Errorf("open: %w", err)
	}
	defer s.Close()
	return checkPrefix(s, allowErr)
}

func TestWALTailCutAtEveryByte(t *testing.T) {
	walSegmentSize = 16 << 10 // small preallocated files, cheap to save and restore
	t.Cleanup(func() { walSegmentSize = 0 })
	dir := t.TempDir()
	seg, ends, lasts := writeTailFixture(t, dir, 40)
	from := ends[len(ends)-6] // every byte of the last 5 batches
	dataEnd := ends[len(ends)-1]
	saved := saveFiles(t, seg, filepath.Join(dir, walDirName, "wal-meta.db"))
	orig := saved[seg]
	// lastBefore is the last index of the batches wholly before byte k.
	lastBefore := func(k int64) uint64 {
		i := sort.Search(len(ends), func(i int) bool { return ends[i] > k })
		if i == 0 {
			return 0
		}
		return lasts[i-1]
	}
	start := time.Now()
	var reopens int
	step := int64(1)
	if testing.Short() {
		step = 7 // a sample; every byte without -short
	}
	for k := from; k <= dataEnd; k += step {
		for _, mode := range []string{"truncate", "zero"} {
			var err error
			switch mode {
			case "truncate": // the file ends at k: a cut filesystem
				err = os.Truncate(seg, k)
			case "zero": // the preallocated file's zeros from k on: writes lost
				err = os.WriteFile(seg, append(append([]byte{}, orig[:k]...), make([]byte, len(orig)-int(k))...), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			r, err := reopenAndCheck(dir, false)
			reopens++
			if err != nil {
				t.Fatalf("%s at byte %d (data ends at %d): %v", mode, k, dataEnd, err)
			}
			if want := lastBefore(k); r.last < want {
				t.Fatalf("%s at byte %d: last index %d, but batches up to %d ended before the cut", mode, k, r.last, want)
			}
			saved.restore(t)
		}
	}
	t.Logf("%d reopens over bytes %d-%d of %s in %v", reopens, from, dataEnd, filepath.Base(seg), time.Since(start).Round(time.Millisecond))
}

func TestWALBitFlipsInTail(t *testing.T) {
	walSegmentSize = 16 << 10
	t.Cleanup(func() { walSegmentSize = 0 })
	dir := t.TempDir()
	seg, ends, lasts := writeTailFixture(t, dir, 40)
	from := ends[len(ends)-6]
	dataEnd := ends[len(ends)-1]
	saved := saveFiles(t, seg, filepath.Join(dir, walDirName, "wal-meta.db"))
	orig := saved[seg]
	var refusedOpen, truncated, detected, intact int
	step := int64(1)
	if testing.Short() {
		step = 7
	}
	for k := from; k < dataEnd; k += step {
		b := append([]byte{}, orig...)
		b[k] ^= 1 << (k % 8)
		if err := os.WriteFile(seg, b, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := reopenAndCheck(dir, true)
		switch {
		case err != nil && strings.HasPrefix(err.Error(), "open:"):
			refusedOpen++ // an error, not data
		case err != nil:
			t.Fatalf("bit %d of byte %d flipped: %v", k%8, k, err)
		case r.detected > 0:
			detected++
		case r.last < lasts[len(lasts)-1]:
			truncated++
		default:
			intact++
		}
		saved.restore(t)
	}
	t.Logf("flips in bytes %d-%d: %d refused at open, %d entries refused by checksum, %d recovered to a shorter prefix, %d read back whole (flip in frame padding)",
		from, dataEnd, refusedOpen, detected, truncated, intact)
	if detected == 0 {
		t.Error("no flip was caught by the entry checksum")
	}
}

func TestWALEntryChecksumWithoutSum(t *testing.T) {
	l := crashEntry(7)
	l.Extensions = sealEntry(l)
	if err := openEntry(l, true); err != nil || l.Extensions != nil {
		t.Fatalf("sealed entry: %v, extensions %q", err, l.Extensions)
	}
	// An entry from before the checksums passes only below sumsFrom.
	old := crashEntry(8)
	if err := openEntry(old, false); err != nil {
		t.Fatal(err)
	}
	if err := openEntry(old, true); !errors.Is(err, errEntryChecksum) {
		t.Fatalf("entry without a checksum at or past sumsFrom: %v", err)
	}
	// raft's own Extensions go through.
	e := crashEntry(9)
	e.Extensions = []byte("raft's")
	e.Extensions = sealEntry(e)
	if err := openEntry(e, true); err != nil || string(e.Extensions) != "raft's" {
		t.Fatalf("entry with Extensions: %v, %q", err, e.Extensions)
	}
}

// powerCutRun stores batches through a powerCutVFS until the cut, which
// comes between the write and the fsync of batch cutAt (the write is in
// the page cache, not on disk), then reopens the dir with a plain file
// system and checks every acknowledged entry. It returns the highest
// acknowledged index and the check's error.
func powerCutRun(t *testing.T, skipSync bool, cutAt int) (uint64, error) {
	t.Helper()
	walSegmentSize = 16 << 10 // segments roll (seal, create, meta commit) during the run
	t.Cleanup(func() { walSegmentSize = 0 })
	dir := t.TempDir()
	v := newPowerCutVFS(fs.New())
	v.setSkipSync(skipSync)
	s, err := openLogStoreVFS(dir, LogStoreWAL, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	var acked uint64
	next := uint64(1)
	for b := 0; b <= cutAt; b++ {
		n := b%5 + 1
		if b == cutAt {
			v.beforeSync = func() { v.cutLocked() } // the power goes between write and fsync
		}
		err := storeCrashBatch(s, next, n)
		if b == cutAt {
			if err == nil {
				t.Fatal("the batch cut before its fsync was acknowledged")
			}
			break
		}
		if err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		next += uint64(n)
		acked = next - 1
	}
	s.Close() // fails after the cut (nothing more reaches the files), and that is the point
	r, err := reopenAndCheck(dir, false)
	if err == nil && r.last < acked {
		err = fmt.Errorf("acknowledged up to %d, the reopened store ends at %d", acked, r.last)
	}
	return acked, err
}

func TestWALPowerCutKeepsAcknowledged(t *testing.T) {
	for _, cutAt := range []int{1, 7, 60, 150, 301} {
		acked, err := powerCutRun(t, false, cutAt)
		if err != nil {
			t.Fatalf("cut at batch %d (%d entries acknowledged): %v", cutAt, acked, err)
		}
	}
	// The failpoint: without the fsync nothing is durable, and the same
	// check must fail (the test can fail).
	acked, err := powerCutRun(t, true, 150)
	if err == nil {
		t.Fatalf("with the fsync skipped, %d acknowledged entries survived the power cut: the model loses nothing", acked)
	}
	t.Logf("with the fsync skipped the check fails, as it must: %v", err)
}

// walCrashEnv names the store dir of TestWALCrashChild.
const walCrashEnv = "FLOWMESH_WAL_CRASH_DIR"

// TestWALCrashChild is the child of TestWALSIGKILLLoop: it appends to the
// default store in its dir until killed, printing each acknowledged last
// index.
func TestWALCrashChild(t *testing.T) {
	dir := os.Getenv(walCrashEnv)
	if dir == "" {
		t.Skip("only run as the child of TestWALSIGKILLLoop")
	}
	walSegmentSize = 64 << 10
	s, err := openLogStore(dir, LogStoreWAL)
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	next, err := s.LastIndex()
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	next++
	w := bufio.NewWriter(os.Stdout)
	for b := 0; ; b++ {
		if b%7 == 6 && next > 40 {
			// A conflicting suffix dropped, as raft does on a follower
			// (the entries rewritten after it have the same bytes). The
			// parent hears of it before it starts.
			to := next - 1 - uint64(b%23) - 1
			fmt.Fprintf(w, "trunc %d\n", to)
			w.Flush()
			if err := s.DeleteRange(to+1, next-1); err != nil {
				fmt.Println("truncate error:", err)
				os.Exit(2)
			}
			next = to + 1
		}
		n := int(next%6) + 1
		if err := storeCrashBatch(s, next, n); err != nil {
			fmt.Println("append error:", err)
			os.Exit(2)
		}
		next += uint64(n)
		fmt.Fprintf(w, "ack %d\n", next-1)
		w.Flush()
	}
}

func TestWALSIGKILLLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns and kills processes")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	walSegmentSize = 64 << 10
	t.Cleanup(func() { walSegmentSize = 0 })
	dir := t.TempDir()
	var acked uint64
	truncations := 0
	deadline := time.Now().Add(8 * time.Second)
	rounds := 0
	for ; rounds < 25 && time.Now().Before(deadline); rounds++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWALCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), walCrashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		done := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if strings.Contains(line, "error") {
					done <- fmt.Errorf("child: %s", line)
					return
				}
				if v, ok := strings.CutPrefix(line, "ack "); ok {
					if n, err := strconv.ParseUint(v, 10, 64); err == nil && n > acked {
						acked = n // a line cut by the kill does not parse
					}
				}
				if v, ok := strings.CutPrefix(line, "trunc "); ok {
					if n, err := strconv.ParseUint(v, 10, 64); err == nil {
						acked = min(acked, n) // entries after n may be gone
						truncations++
					}
				}
			}
			done <- nil
		}()
		time.Sleep(time.Duration(20+rng.IntN(250)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		r, err := reopenAndCheck(dir, false)
		if err != nil {
			t.Fatalf("round %d: %v", rounds, err)
		}
		if r.last < acked {
			t.Fatalf("round %d: acknowledged up to %d, the reopened store ends at %d", rounds, acked, r.last)
		}
	}
	if acked == 0 {
		t.Fatal("the child acknowledged nothing")
	}
	t.Logf("%d SIGKILLs, %d tail truncations, %d entries acknowledged, all there after each", rounds, truncations, acked)
}

// TestWALRecoversAnInterruptedRoll closes (and so stops) the store right
// after each append, so a segment sealed by an append is often closed
// before the background roll committed the next one, as a crash there
// would leave it. raft-wal v0.4.0 alone reopens such a store with a sealed
// tail and fails every append ("segment is sealed"); repairSealedTail
// finishes the roll. Every append must succeed and every entry be there.
func TestWALRecoversAnInterruptedRoll(t *testing.T) {
	walSegmentSize = 4 << 10
	t.Cleanup(func() { walSegmentSize = 0 })
	dir := t.TempDir()
	repairedBefore := walRollsRepaired.Load()
	next := uint64(1)
	for b := 0; b < 150; b++ {
		s, err := openLogStore(dir, LogStoreWAL)
		if err != nil {
			t.Fatal(err)
		}
		if err := storeCrashBatch(s, next, 3); err != nil {
			t.Fatalf("batch %d (entries from %d): %v", b, next, err)
		}
		next += 3
		s.Close()
	}
	r, err := reopenAndCheck(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if r.last != next-1 {
		t.Fatalf("last index %d, want %d", r.last, next-1)
	}
	repaired := walRollsRepaired.Load() - repairedBefore
	t.Logf("%d interrupted rolls finished at open", repaired)
	if repaired == 0 {
		t.Fatal("no roll was interrupted: the test did not exercise repairSealedTail")
	}
}
