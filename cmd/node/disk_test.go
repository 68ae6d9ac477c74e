package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// TestNodeDiskFull runs the node with its data dir on a 64 MiB tmpfs and a
// 16 MiB reserve and fills the filesystem from outside: the node keeps
// running and ready (/readyz 200 with Flowmesh-Alarm: NOSPACE), a put
// through the SDK fails once with ResourceExhausted (the server sees one
// call: no retry loop) naming the disk, reads work, /metrics and the
// cluster status show the alarm; once the filler is gone it clears and
// writes work.
func TestNodeDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the node process on a tmpfs")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs for a small filesystem")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs at %s: %v: %s", mnt, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	ctx := context.Background()
	p := startNode(t, filepath.Join(mnt, "data"), "--disk-reserve-bytes", "16777216")
	c := newClient(t, p.grpcAddr)
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "t1/ns1/kv", "before", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatal(err)
	}

	// Fill the filesystem to 8 MiB free.
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, int64(st.Bavail)*int64(st.Bsize)-8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	readyz := func() (int, string, string) {
		resp, err := http.Get("http://" + p.httpAddr + "/readyz")
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		return resp.StatusCode, resp.Header.Get("Flowmesh-Alarm"), string(buf[:n])
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitUntil("/readyz to show the alarm", func() bool { _, h, _ := readyz(); return h == "NOSPACE" })
	if code, _, body := readyz(); code != http.StatusOK || !strings.Contains(body, "disk full") {
		t.Fatalf("/readyz under the alarm: %d %q, want 200 naming the disk", code, body)
	}

	_, err := c.Put(ctx, "t1/ns1/kv", "refused", []byte("v"), flowmesh.KVPutOptions{})
	var lim *flowmesh.LimitError
	if !errors.As(err, &lim) || !strings.Contains(lim.What, "disk full") || lim.Limit != 16<<20 || lim.Got >= 16<<20 {
		t.Fatalf("put on a full disk: %v, want a disk full LimitError", err)
	}
	if e, err := c.Get(ctx, "t1/ns1/kv", "before"); err != nil || string(e.Value) != "v" {
		t.Fatalf("read on a full disk: %q, %v", e.Value, err)
	}
	ns, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns.Alarms) != 1 || !strings.HasPrefix(ns.Alarms[0], "NOSPACE: ") || ns.DiskReserveBytes != 16<<20 || ns.DiskFreeBytes >= 16<<20 {
		t.Fatalf("status under the alarm: alarms %q, free %d, reserve %d", ns.Alarms, ns.DiskFreeBytes, ns.DiskReserveBytes)
	}
	metrics := httpGet(t, "http://"+p.httpAddr+"/metrics")
	for _, want := range []string{
		fmt.Sprintf(`flowmesh_disk_alarm{node=%q} 1`, ns.NodeID),
		fmt.Sprintf(`flowmesh_disk_reserve_bytes{node=%q} 1.6777216e+07`, ns.NodeID),
		// One refused call reached the server: the SDK did not retry it.
		`grpc_server_handled_total{grpc_code="ResourceExhausted",grpc_method="Put",grpc_service="flowmesh.v1.KVService",grpc_type="unary"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("the node exited on a full disk: %v", err)
	default:
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitUntil("the alarm to clear", func() bool { code, h, _ := readyz(); return code == http.StatusOK && h == "" })
	if _, err := c.Put(ctx, "t1/ns1/kv", "after", []byte("v"), flowmesh.KVPutOptions{}); err != nil {
		t.Fatalf("put after space returned: %v", err)
	}
	if !strings.Contains(httpGet(t, "http://"+p.httpAddr+"/metrics"), fmt.Sprintf(`flowmesh_disk_alarm{node=%q} 0`, ns.NodeID)) {
		t.Error("flowmesh_disk_alarm is not 0 after the alarm cleared")
	}
}
