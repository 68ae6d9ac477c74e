package storage_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/rpc"
	"github.com/flowmesh/flowmesh/storage"
)

// tmpfs mounts a tmpfs of size bytes and returns its path; it skips the
// test when it cannot (not root, no mount).
func tmpfs(t *testing.T, size int64) string {
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

// fill writes a file at path until the filesystem has at most leave bytes
// free (within a MiB).
func fill(t *testing.T, path string, leave int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := free - leave; n > 0; n -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n)]); err != nil {
			t.Fatalf("filling %s: %v", path, err)
		}
	}
}

func waitDisk(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDiskFullAlarm puts a node's data dir on a 64 MiB tmpfs with a 16 MiB
// reserve and fills the filesystem from outside FlowMesh: the alarm rises,
// writes that grow the data are refused with a DiskFullError that gRPC
// carries as ResourceExhausted, reads and deletes still work, the node
// restarts under the alarm; once the filler is gone the alarm clears,
// writes work again and every acknowledged write is there.
func TestDiskFullAlarm(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	ctx := context.Background()
	dataDir := filepath.Join(mnt, "data")
	open := func() *storage.Storage {
		t.Helper()
		cfg := storage.DefaultConfig()
		cfg.DataDir = dataDir
		cfg.Logger = quietLogger()
		cfg.DiskReserveBytes = 16 << 20
		cfg.DiskCheckInterval = 20 * time.Millisecond
		s, err := storage.NewWithConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	defer func() { s.Stop(context.Background()) }()
	kvs, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	path := kvs.GetPath()
	acked := map[string]string{}
	put := func(k string) error {
		v := "value-" + k
		_, err := s.KVManager().Put(ctx, path, k, []byte(v), flowmesh.KVPutOptions{})
		if err == nil {
			acked[k] = v
		}
		return err
	}
	for i := range 20 {
		if err := put(fmt.Sprintf("k%02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DiskAlarm(); err != nil {
		t.Fatalf("alarm before the disk filled: %v", err)
	}

	filler := filepath.Join(mnt, "filler")
	fill(t, filler, 8<<20)
	waitDisk(t, "the disk alarm", func() bool { return s.DiskAlarm() != nil })
	d := s.Disk()
	if len(d) == 0 || !d[0].Alarm || d[0].Reserve != 16<<20 || d[0].Free >= 16<<20 {
		t.Fatalf("Disk() = %+v, want this node alarmed with a 16 MiB reserve", d)
	}

	err = put("refused")
	var full *flowmesh.DiskFullError
	if !errors.As(err, &full) || full.Node == "" || full.Reserve != 16<<20 || !errors.Is(err, flowmesh.ErrLimitExceeded) {
		t.Fatalf("put on a full disk: %v, want a DiskFullError", err)
	}
	if st := rpc.ToStatus(ctx, err); st.Code() != codes.ResourceExhausted {
		t.Fatalf("put on a full disk is %v over gRPC, want ResourceExhausted", st.Code())
	}
	if _, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t1", "ns", "kv2"); !errors.As(err, &full) {
		t.Fatalf("create on a full disk: %v, want a DiskFullError", err)
	}
	if e, err := s.KVManager().Get(ctx, path, "k00"); err != nil || string(e.Value) != acked["k00"] {
		t.Fatalf("read on a full disk: %q, %v", e.Value, err)
	}
	if _, err := s.KVManager().Delete(ctx, path, "k19", flowmesh.KVDeleteOptions{}); err != nil {
		t.Fatalf("delete on a full disk: %v", err)
	}
	delete(acked, "k19")

	// A restart under the alarm serves reads and keeps refusing growth.
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	s = open()
	if err := s.DiskAlarm(); err == nil {
		t.Fatal("no disk alarm after a restart on a full disk")
	}
	if err := put("refused"); !errors.As(err, &full) {
		t.Fatalf("put after a restart on a full disk: %v, want a DiskFullError", err)
	}
	if _, err := s.KVManager().Get(ctx, path, "k01"); err != nil {
		t.Fatalf("read after a restart on a full disk: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitDisk(t, "the disk alarm to clear", func() bool { return s.DiskAlarm() == nil })
	if err := put("after"); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
	for k, v := range acked {
		e, err := s.KVManager().Get(ctx, path, k)
		if err != nil || string(e.Value) != v {
			t.Fatalf("acknowledged %s=%s: got %q, %v", k, v, e.Value, err)
		}
	}
	if _, err := s.KVManager().Get(ctx, path, "refused"); !errors.Is(err, flowmesh.ErrNotFound) {
		t.Fatalf("a refused put is there: %v", err)
	}
}
