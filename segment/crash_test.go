package segment

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "FLOWMESH_SEGMENT_CRASH_DIR"

func crashConfig() Config {
	c := DefaultConfig()
	c.SegmentMaxSize = 256 << 10
	c.IndexInterval = 1024
	return c
}

// crashRecord is the content the crash child writes at offset off.
func crashRecord(off uint64) Record {
	n := int(off*7919%3000) + 1
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(off>>(i%8*8)) ^ byte(i)
	}
	return Record{Index: off/4 + 1, Timestamp: int64(off), Key: []byte(strconv.FormatUint(off, 10)), Payload: p}
}

func contentHash(r *Record) uint32 {
	h := crc32.NewIEEE()
	fmt.Fprintf(h, "%d/%d/%s/", r.Index, r.Timestamp, r.Key)
	h.Write(r.Payload)
	return h.Sum32()
}

// TestCrashChild is the child process of TestCrashRecovery; it appends and
// syncs until killed, printing "offset hash" for every synced record.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("only run as the child of TestCrashRecovery")
	}
	l, err := Open(dir, crashConfig())
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		next := l.NextOffset()
		rs := make([]Record, int(next%7)+1)
		for i := range rs {
			rs[i] = crashRecord(next + uint64(i))
		}
		first, err := l.AppendBatch(rs)
		if err == nil {
			err = l.Sync()
		}
		if err != nil {
			fmt.Println("append error:", err)
			os.Exit(2)
		}
		for i := range rs {
			fmt.Fprintf(w, "%d %d\n", first+uint64(i), contentHash(&rs[i]))
		}
		w.Flush()
	}
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	dir := t.TempDir()
	deadline := time.Now().Add(6 * time.Second)
	for round := 0; round < 5 && time.Now().Before(deadline); round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		synced := map[uint64]uint32{}
		done := make(chan error, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) != 2 {
					if strings.Contains(sc.Text(), "error") {
						done <- fmt.Errorf("child: %s", sc.Text())
						return
					}
					continue
				}
				off, err1 := strconv.ParseUint(f[0], 10, 64)
				h, err2 := strconv.ParseUint(f[1], 10, 32)
				if err1 != nil || err2 != nil {
					continue // a line cut by the kill
				}
				synced[off] = uint32(h)
			}
			done <- nil
		}()
		time.Sleep(time.Duration(100+rng.IntN(400)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		l, err := Open(dir, crashConfig())
		if err != nil {
			t.Fatalf("round %d: Open after kill: %v", round, err)
		}
		next := l.NextOffset()
		for off := range synced {
			if off >= next {
				t.Fatalf("round %d: synced offset %d missing (next %d)", round, off, next)
			}
		}
		for off := uint64(0); off < next; {
			rs, err := l.Read(off, 0, 1<<20)
			if err != nil {
				t.Fatalf("round %d: Read(%d): %v", round, off, err)
			}
			for i := range rs {
				want := crashRecord(off)
				if got, wantH := contentHash(&rs[i]), contentHash(&want); got != wantH {
					t.Fatalf("round %d: offset %d hash %d, want %d", round, off, got, wantH)
				}
				if h, ok := synced[off]; ok && h != contentHash(&rs[i]) {
					t.Fatalf("round %d: offset %d hash differs from the child's", round, off)
				}
				off++
			}
		}
		t.Logf("round %d: %d synced records checked, log has %d records in %d segments", round, len(synced), next, len(l.Segments()))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
