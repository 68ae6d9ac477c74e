package abuse_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/client"
)

// tmpfs mounts a tmpfs of size bytes, unmounted at cleanup, and returns its
// path; it skips the test when it cannot (not root, no mount).
func tmpfs(t *testing.T, size int64) string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts node processes")
	}
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

// freeBytes is what statfs says is available on dir's filesystem.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// fillAll appends to path until the filesystem is full (ENOSPC).
func fillAll(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			t.Fatalf("filling %s: %v", path, err)
		}
	}
	for _, n := range []int{4096, 512, 1} { // the last partial page
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	if free := freeBytes(t, filepath.Dir(path)); free != 0 {
		t.Fatalf("filled %s, yet %d bytes are free", path, free)
	}
}

// readyzAlarm returns /readyz's status code and Flowmesh-Alarm header.
func (nd *Node) readyzAlarm() (int, string, error) {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + nd.HTTPAddr + "/readyz")
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Flowmesh-Alarm"), nil
}

func isDiskFull(err error) bool {
	var lim *flowmesh.LimitError
	return errors.As(err, &lim) && strings.Contains(lim.What, "disk full")
}

// Issue 10: with its data dir on a full disk the node exited with a fatal
// log, and exited again on every restart while the disk was full. Here
// something else fills the node's 64 MiB tmpfs to the last byte while
// clients write (past the 16 MiB reserve, faster than the alarm's 1 s
// statfs): the node stays up, raises its alarm, refuses writes with
// ResourceExhausted "disk full" and serves reads; killed with SIGKILL and
// restarted at 0 bytes free it starts read-only, and again after SIGTERM;
// a fresh data dir on the full disk fails with an error naming the disk.
// Once space returns the alarm clears, writes work, and every acknowledged
// write is there, also after another SIGKILL.
func TestDiskFull(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	nd := NewNode(t, filepath.Join(mnt, "data"), "--disk-reserve-bytes", fmt.Sprint(16<<20), "--flush-interval", "100ms")
	nd.Start(t)
	ctx := ctxFor(t, 3*time.Minute)
	c := nd.Client(t)
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateStream(ctx, "t1", "ns1", "s", 1); err != nil {
		t.Fatal(err)
	}

	// Writers put keys and append events until the disk is full.
	var (
		mu       sync.Mutex
		acked    = map[string][]byte{}
		events   = map[uint64][]byte{}
		refused  atomic.Int64
		stop     = make(chan struct{})
		writers  sync.WaitGroup
		otherErr error // the first write error other than disk full
	)
	value := func(w, i int) []byte { return []byte(fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("x", 4000))) }
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v := value(w, i)
				var err error
				if i%2 == 0 {
					k := fmt.Sprintf("w%d-%05d", w, i)
					if _, err = c.Put(ctx, "t1/ns1/kv", k, v, flowmesh.KVPutOptions{}); err == nil {
						mu.Lock()
						acked[k] = v
						mu.Unlock()
					}
				} else {
					var offs []flowmesh.Position
					if offs, err = c.WriteEvents(ctx, "t1/ns1/s", []flowmesh.StreamEvent{{Payload: v}}); err == nil {
						mu.Lock()
						events[offs[0].Offset] = v
						mu.Unlock()
					}
				}
				switch {
				case err == nil:
				case isDiskFull(err):
					refused.Add(1)
					time.Sleep(10 * time.Millisecond)
				default:
					mu.Lock()
					if otherErr == nil {
						otherErr = err
					}
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	eventually(t, 30*time.Second, "some acknowledged writes", func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 50 {
			return fmt.Errorf("%d acknowledged", len(acked))
		}
		return nil
	})
	filler := filepath.Join(mnt, "filler")
	fillAll(t, filler)
	eventually(t, 15*time.Second, "/readyz to show the alarm", func() error {
		if !nd.Running() {
			t.Fatal("the node exited when the disk filled")
		}
		code, alarm, err := nd.readyzAlarm()
		if err != nil || code != http.StatusOK || alarm != "NOSPACE" {
			return fmt.Errorf("/readyz %d %q %v", code, alarm, err)
		}
		return nil
	})
	eventually(t, 15*time.Second, "a write refused as disk full", func() error {
		if refused.Load() == 0 {
			return errors.New("none refused yet")
		}
		return nil
	})
	close(stop)
	writers.Wait()
	mu.Lock()
	if otherErr != nil {
		t.Logf("a write failed otherwise than disk full while the disk filled (not acknowledged): %v", otherErr)
	}
	t.Logf("%d puts and %d events acknowledged, %d writes refused as disk full", len(acked), len(events), refused.Load())
	mu.Unlock()

	check := func(c *client.Client, what string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		for k, v := range acked {
			e, err := c.Get(ctx, "t1/ns1/kv", k)
			if err != nil || string(e.Value) != string(v) {
				t.Fatalf("%s: acknowledged put %s: %d bytes, %v", what, k, len(e.Value), err)
			}
		}
		got := map[uint64][]byte{}
		for off := uint64(0); ; {
			msgs, err := c.ReadFromOffset(ctx, "t1/ns1/s", 0, off, 500)
			if err != nil {
				t.Fatalf("%s: read the stream at %d: %v", what, off, err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				got[m.Offset] = m.Payload
				off = m.Offset + 1
			}
		}
		for off, v := range events {
			if string(got[off]) != string(v) {
				t.Fatalf("%s: acknowledged event at offset %d: got %d bytes", what, off, len(got[off]))
			}
		}
	}
	readOnly := func(c *client.Client, what string) {
		t.Helper()
		if _, err := c.Put(ctx, "t1/ns1/kv", "refused", []byte("v"), flowmesh.KVPutOptions{}); !isDiskFull(err) {
			t.Fatalf("%s: put: %v, want ResourceExhausted disk full", what, err)
		}
		if code, alarm, err := nd.readyzAlarm(); err != nil || code != http.StatusOK || alarm != "NOSPACE" {
			t.Fatalf("%s: /readyz %d %q %v, want 200 with Flowmesh-Alarm: NOSPACE", what, code, alarm, err)
		}
		check(c, what)
	}
	readOnly(c, "on the full disk")

	// SIGKILL, then a restart with not one byte free.
	nd.Kill()
	fillAll(t, filler)
	nd.Start(t)
	c = nd.Client(t)
	readOnly(c, "restarted after SIGKILL at 0 bytes free")
	// SIGTERM, then a restart at 0 bytes free.
	nd.Stop(t)
	fillAll(t, filler)
	nd.Start(t)
	c = nd.Client(t)
	readOnly(c, "restarted after SIGTERM at 0 bytes free")

	// A fresh node on the full disk.
	fresh := NewNode(t, filepath.Join(mnt, "fresh"), "--disk-reserve-bytes", fmt.Sprint(16<<20))
	fresh.Launch(t)
	eventually(t, 30*time.Second, "the fresh node to exit", func() error {
		if fresh.Running() {
			return errors.New("still running")
		}
		return nil
	})
	if b, _ := os.ReadFile(fresh.LogPath); !strings.Contains(string(b), "no space") {
		t.Fatalf("a fresh node on a full disk exited without naming the disk:\n%s", b)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the alarm to clear", func() error {
		code, alarm, err := nd.readyzAlarm()
		if err != nil || code != http.StatusOK || alarm != "" {
			return fmt.Errorf("/readyz %d %q %v", code, alarm, err)
		}
		return nil
	})
	if _, err := c.Put(ctx, "t1/ns1/kv", "after", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
	acked["after"] = []byte("v")
	check(c, "after space returned")
	nd.Kill()
	nd.Start(t)
	check(nd.Client(t), "restarted after SIGKILL with space")
	nd.CheckRSS(t, "disk full")
}
