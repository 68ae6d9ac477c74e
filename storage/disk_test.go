package storage_test

import (
	"bytes"
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
	return mountTmpfs(t, t.TempDir(), size)
}

// mountTmpfs mounts a tmpfs of size bytes at dir (created if need be),
// unmounted at cleanup; it skips the test when it cannot.
func mountTmpfs(t *testing.T, dir string, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs for a small filesystem")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
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

// openDiskNode starts a single node on dataDir with a 16 MiB disk reserve
// checked every 20 ms.
func openDiskNode(t *testing.T, dataDir string, opts ...func(*storage.Config)) *storage.Storage {
	t.Helper()
	cfg := storage.DefaultConfig()
	cfg.DataDir = dataDir
	cfg.Logger = quietLogger()
	cfg.DiskReserveBytes = 16 << 20
	cfg.DiskCheckInterval = 20 * time.Millisecond
	for _, o := range opts {
		o(cfg)
	}
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return s
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
	open := func() *storage.Storage { return openDiskNode(t, dataDir) }
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

// TestDiskFullFollower fills the disk of one follower of a 3-node cluster:
// it gossips its alarm and the leader, whose own disk is fine, refuses
// writes that grow the data naming that follower (which would otherwise
// fail in Apply), while deletes commit and the follower keeps serving
// reads; when space returns the alarm clears everywhere, writes work and
// the follower holds every acknowledged write.
func TestDiskFullFollower(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	mnt := tmpfs(t, 64<<20)
	i := 0
	nodes := startCluster(t, 3, func(cfg *storage.Config) {
		if i == 2 {
			cfg.DataDir = filepath.Join(mnt, "n2")
		}
		i++
		cfg.DiskReserveBytes = 16 << 20
		cfg.DiskCheckInterval = 20 * time.Millisecond
	})
	ctx := context.Background()
	small := nodes[2]
	if leaderOf(t, nodes) == small {
		if err := small.s.TransferLeadership(ctx, nodes[0].id); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "a leader other than "+small.id, func() error {
			return checkConfig(nodes, 3, 0)
		})
	}
	leader := leaderOf(t, nodes)
	if leader == small {
		t.Fatal("the node on the small disk still leads")
	}
	acked := map[string]string{}
	var path string
	for i := range 10 {
		k := fmt.Sprintf("k%d", i)
		path = putOnLeader(t, leader, k, "v"+k)
		acked[k] = "v" + k
	}
	waitStaleRead(t, small, path, "k9", "vk9")

	filler := filepath.Join(mnt, "filler")
	fill(t, filler, 8<<20)
	var full *flowmesh.DiskFullError
	// The alarm travels in gossip metadata, which memberlist delays on a
	// loaded machine (see TestJoinLeaveRemove): wait on the condition, long.
	waitFor(t, 60*time.Second, "the leader to see "+small.id+"'s alarm", func() error {
		if err := leader.s.DiskAlarm(); !errors.As(err, &full) || full.Node != small.id {
			return fmt.Errorf("leader's alarm: %v", err)
		}
		return nil
	})
	if _, err := leader.s.KVManager().Put(ctx, path, "refused", []byte("x"), flowmesh.KVPutOptions{}); !errors.As(err, &full) || full.Node != small.id || full.Reserve != 16<<20 {
		t.Fatalf("put while a follower's disk is full: %v, want a DiskFullError naming %s", err, small.id)
	}
	alarmed := false
	for _, m := range leader.s.Members() {
		alarmed = alarmed || m.ID == small.id && m.DiskAlarm
	}
	if !alarmed {
		t.Fatalf("the leader's Members() does not show %s's disk alarm: %+v", small.id, leader.s.Members())
	}
	if _, err := leader.s.KVManager().Delete(ctx, path, "k9", flowmesh.KVDeleteOptions{}); err != nil {
		t.Fatalf("delete while a follower's disk is full: %v", err)
	}
	delete(acked, "k9")
	if e, err := small.s.KVManager().Get(ctx, path, "k0", flowmesh.WithConsistency(flowmesh.Stale)); err != nil || string(e.Value) != "vk0" {
		t.Fatalf("read on the full follower: %q, %v", e.Value, err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the alarm to clear on every node", func() error { // gossip: see above
		for _, n := range nodes {
			if err := n.s.DiskAlarm(); err != nil {
				return fmt.Errorf("%s: %v", n.id, err)
			}
		}
		return nil
	})
	putOnLeader(t, leader, "after", "vafter")
	acked["after"] = "vafter"
	for _, n := range nodes {
		if _, err := n.s.Status(); err != nil {
			t.Fatalf("%s is not running: %v", n.id, err)
		}
		for k, v := range acked {
			waitStaleRead(t, n, path, k, v)
		}
	}
}

// TestDiskFullRestartAtZeroFree restarts a node without a ballast whose
// filesystem was filled to the last byte by something else: it starts
// (opening its segments writes nothing when their indexes are current,
// raft's vote and no-op go into pages bolt holds), raises its
// alarm and serves reads; once space returns it takes writes and every
// acknowledged one is there.
func TestDiskFullRestartAtZeroFree(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	ctx := context.Background()
	dataDir := filepath.Join(mnt, "data")
	// No ballast: a clean stop leaves nothing that needs space to start.
	open := func() *storage.Storage {
		return openDiskNode(t, dataDir, func(c *storage.Config) { c.DiskBallastBytes = -1 })
	}
	s := open()
	kvs, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	path := kvs.GetPath()
	for i := range 100 {
		if _, err := s.KVManager().Put(ctx, path, fmt.Sprintf("k%03d", i), make([]byte, 1000), flowmesh.KVPutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler, 0)

	s = open()
	if err := s.DiskAlarm(); err == nil {
		t.Fatal("no disk alarm with 0 bytes free")
	}
	if e, err := s.KVManager().Get(ctx, path, "k099"); err != nil || len(e.Value) != 1000 {
		t.Fatalf("read at 0 bytes free: %d bytes, %v", len(e.Value), err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitDisk(t, "the disk alarm to clear", func() bool { return s.DiskAlarm() == nil })
	if _, err := s.KVManager().Put(ctx, path, "after", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Stop(context.Background())
	for i := range 100 {
		if _, err := s.KVManager().Get(ctx, path, fmt.Sprintf("k%03d", i)); err != nil {
			t.Fatalf("acknowledged k%03d: %v", i, err)
		}
	}
}

// TestDiskFullApplyWaitsForSpace fills the filesystem of the FSM's stores
// (a tmpfs of its own) while the raft log has room, with no ballast and no
// reserve to see it coming, so a put commits and then cannot be written: Apply does not exit (it did: an I/O error in
// Apply was fatal) but raises the alarm and waits; the put completes, with
// its value, once space returns. A second stalled put is interrupted by
// Stop, which returns; it is committed, so the next start applies it.
func TestDiskFullApplyWaitsForSpace(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	ctx := context.Background()
	cfg := storage.DefaultConfig()
	cfg.DataDir = filepath.Join(mnt, "data")
	cfg.Logger = quietLogger()
	cfg.DiskReserveBytes = -1 // only Apply's failure raises the alarm
	cfg.DiskBallastBytes = -1
	cfg.DiskCheckInterval = 20 * time.Millisecond
	open := func() *storage.Storage {
		s, err := storage.NewWithConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := s.Start(sctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		return s
	}
	// The FSM's stores on a filesystem of their own: filling it leaves the
	// raft log room to commit entries the FSM cannot write.
	fsmDir := mountTmpfs(t, filepath.Join(cfg.DataDir, "fsm"), 16<<20)
	s := open()
	kvs, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	path := kvs.GetPath()
	value := func(c byte) []byte { return bytes.Repeat([]byte{c}, flowmesh.MaxPayloadSize) }
	if _, err := s.KVManager().Put(ctx, path, "warm", value('w'), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(fsmDir, "filler")
	done := make(chan error, 1)
	fill(t, filler, 0)
	go func() {
		_, err := s.KVManager().Put(ctx, path, "k1", value('1'), flowmesh.KVPutOptions{})
		done <- err
	}()
	waitDisk(t, "the alarm raised by Apply", func() bool { return s.DiskAlarm() != nil })
	select {
	case err := <-done:
		t.Fatalf("the put returned while the disk was full: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the put that waited for space: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the put did not complete after space returned")
	}
	if e, err := s.KVManager().Get(ctx, path, "k1"); err != nil || !bytes.Equal(e.Value, value('1')) {
		t.Fatalf("k1 after space returned: %d bytes, %v", len(e.Value), err)
	}

	// Stalled again, then stopped: Stop must not wait for space.
	waitDisk(t, "the alarm to clear", func() bool { return s.DiskAlarm() == nil })
	fill(t, filler, 0)
	done2 := make(chan error, 1)
	go func() {
		_, err := s.KVManager().Put(ctx, path, "k2", value('2'), flowmesh.KVPutOptions{})
		done2 <- err
	}()
	waitDisk(t, "the alarm raised by Apply", func() bool { return s.DiskAlarm() != nil })
	stopCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := s.Stop(stopCtx); err != nil {
		t.Fatalf("stop while Apply waits for space: %v", err)
	}
	if err := <-done2; err == nil {
		t.Log("the stalled put was answered before the stop")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = open()
	defer s.Stop(context.Background())
	for k, c := range map[string]byte{"warm": 'w', "k1": '1', "k2": '2'} {
		e, err := s.KVManager().Get(ctx, path, k)
		if err != nil || !bytes.Equal(e.Value, value(c)) {
			t.Fatalf("%s after the restart: %d bytes, %v (a committed put must be applied)", k, len(e.Value), err)
		}
	}
}

// TestDiskAlarmHysteresis: the alarm rises below the reserve (16 MiB) and
// clears only an eighth above it (18 MiB), so a disk hovering at the
// reserve does not flap between refusing and taking writes.
func TestDiskAlarmHysteresis(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	cfg := storage.DefaultConfig()
	cfg.DataDir = filepath.Join(mnt, "data")
	cfg.Logger = quietLogger()
	cfg.DiskReserveBytes = 16 << 20
	cfg.DiskBallastBytes = -1
	cfg.DiskCheckInterval = 20 * time.Millisecond
	s, err := storage.NewWithConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	filler := filepath.Join(mnt, "filler")
	// leave grows or shrinks the filler (never removing it, which would
	// free everything for a moment) until free bytes are left.
	leave := func(free int64) {
		t.Helper()
		var st syscall.Statfs_t
		if err := syscall.Statfs(mnt, &st); err != nil {
			t.Fatal(err)
		}
		now := int64(st.Bavail) * int64(st.Bsize)
		if now <= free {
			fi, err := os.Stat(filler)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(filler, fi.Size()-(free-now)); err != nil {
				t.Fatal(err)
			}
			return
		}
		fill(t, filler, free)
	}
	// seen is the local reading once a check has read about want free.
	seen := func(want int64) DiskReading {
		t.Helper()
		var d storage.DiskStatus
		waitDisk(t, fmt.Sprintf("a check reading about %d MiB free", want>>20), func() bool {
			d = s.Disk()[0]
			return d.Free > want-(1<<20) && d.Free < want+(1<<20)
		})
		return DiskReading{d.Free, d.Alarm}
	}
	leave(15 << 20)
	if r := seen(15 << 20); !r.Alarm {
		t.Fatalf("%d bytes free, below the 16 MiB reserve: no alarm", r.Free)
	}
	leave(17 << 20)
	if r := seen(17 << 20); !r.Alarm || s.DiskAlarm() == nil {
		t.Fatalf("%d bytes free, above the reserve but within the clear margin: the alarm cleared", r.Free)
	}
	leave(20 << 20)
	if r := seen(20 << 20); r.Alarm {
		t.Fatalf("%d bytes free, above the reserve and its margin: still alarmed", r.Free)
	}
	leave(17 << 20)
	if r := seen(17 << 20); r.Alarm {
		t.Fatalf("%d bytes free, above the reserve: the alarm rose again", r.Free)
	}
}

// DiskReading is a node's free space and alarm as one check read them.
type DiskReading struct {
	Free  int64
	Alarm bool
}

// TestDiskBallast: a node with a 16 MiB reserve keeps a 4 MiB ballast as
// two 2 MiB files; below the 4 MiB critical floor it releases the running
// half, and a restart with 0 bytes free releases the start-up half and
// starts under the alarm; once space returns both are put back.
func TestDiskBallast(t *testing.T) {
	mnt := tmpfs(t, 64<<20)
	ctx := context.Background()
	dataDir := filepath.Join(mnt, "data")
	running, start := filepath.Join(dataDir, "disk-ballast"), filepath.Join(dataDir, "disk-ballast-start")
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	s := openDiskNode(t, dataDir)
	if size(running) != 2<<20 || size(start) != 2<<20 {
		t.Fatalf("ballast files: %d and %d bytes, want 2 MiB each", size(running), size(start))
	}
	kvs, err := storage.NewResourceFactory(s.MetaStore()).CreateKVStore(ctx, "t1", "ns", "kv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.KVManager().Put(ctx, kvs.GetPath(), "k", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler, 1<<20)
	waitDisk(t, "the running ballast to be released", func() bool { return size(running) < 0 })
	if size(start) != 2<<20 {
		t.Fatal("the start-up ballast was released by the running node")
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	fill(t, filler, 0)
	s = openDiskNode(t, dataDir)
	defer func() { s.Stop(context.Background()) }()
	if size(start) >= 0 {
		t.Fatal("a start at 0 bytes free kept the start-up ballast")
	}
	if s.DiskAlarm() == nil {
		t.Fatal("no alarm after a start at 0 bytes free")
	}
	if e, err := s.KVManager().Get(ctx, kvs.GetPath(), "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("read after a start at 0 bytes free: %q, %v", e.Value, err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitDisk(t, "both ballast files back", func() bool { return size(running) == 2<<20 && size(start) == 2<<20 })
	waitDisk(t, "the alarm to clear", func() bool { return s.DiskAlarm() == nil })
}
