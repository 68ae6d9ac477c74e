package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowmesh/flowmesh"
)

// startNodeUlimit starts the node under `ulimit -n nofile` (soft and hard),
// so the Go runtime cannot raise its descriptor limit above nofile.
func startNodeUlimit(t *testing.T, dataDir string, nofile int) *proc {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("needs sh ulimit and /proc")
	}
	bin := nodeBinary(t)
	shim := t.TempDir() + "/node-ulimit.sh"
	script := fmt.Sprintf("#!/bin/sh\nulimit -n %d || exit 99\nexec %q \"$@\"\n", nofile, bin)
	if err := os.WriteFile(shim, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startNodeBinary(t, shim, dataDir, "--shutdown-timeout", "60s")
	if got := procOpenFilesLimit(t, p.cmd.Process.Pid); got != nofile {
		t.Fatalf("node runs with a descriptor limit of %d, want %d", got, nofile)
	}
	return p
}

// procOpenFilesLimit reads the soft "Max open files" of pid.
func procOpenFilesLimit(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			n, err := strconv.Atoi(strings.Fields(rest)[0])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Max open files in /proc/PID/limits")
	return 0
}

// TestNodeSurvivesMorePartitionsThanDescriptors: a node limited to 256
// descriptors creates streams whose partitions need far more files than
// that (each partition is a segment log of two files), writes and reads
// every partition, and restarts with the same limit and reads them again.
// Before the segment FileCache the first CreateStream killed the node with
// "too many open files", and every restart died the same way.
func TestNodeSurvivesMorePartitionsThanDescriptors(t *testing.T) {
	const nofile = 256
	streams, partitions := 3, 200 // 600 logs, 1200 segment files > 256 descriptors
	if os.Getenv("FLOWMESH_FDTEST_FULL") != "" {
		streams, partitions = 9, flowmesh.MaxPartitions // the finding
	}
	ctx := context.Background()
	dir := t.TempDir()
	p := startNodeUlimit(t, dir, nofile)
	c := newClient(t, p.grpcAddr)
	start := time.Now()
	for s := range streams {
		name := fmt.Sprintf("s%d", s)
		if _, err := c.CreateStream(ctx, "t1", "ns1", name, partitions); err != nil {
			t.Fatalf("CreateStream %s with %d partitions: %v", name, partitions, err)
		}
		evs := make([]flowmesh.StreamEvent, partitions)
		for i := range evs {
			evs[i] = flowmesh.StreamEvent{Partition: i, Payload: []byte(fmt.Sprintf("%s-%d", name, i))}
		}
		for len(evs) > 0 {
			n := min(len(evs), flowmesh.MaxBatchEvents/2)
			if _, err := c.WriteEvents(ctx, "t1/ns1/"+name, evs[:n]); err != nil {
				t.Fatalf("WriteEvents to partitions of %s: %v", name, err)
			}
			evs = evs[n:]
		}
	}
	readAll := func(when string) {
		t.Helper()
		for s := range streams {
			name := fmt.Sprintf("s%d", s)
			for i := range partitions {
				msgs, err := c.ReadFromOffset(ctx, "t1/ns1/"+name, i, 0, 10)
				if err != nil {
					t.Fatalf("%s: read %s partition %d: %v", when, name, i, err)
				}
				if want := fmt.Sprintf("%s-%d", name, i); len(msgs) != 1 || string(msgs[0].Payload) != want {
					t.Fatalf("%s: %s partition %d holds %d messages, want one %q", when, name, i, len(msgs), want)
				}
			}
		}
	}
	t.Logf("%d streams x %d partitions created and written in %v", streams, partitions, time.Since(start))
	start = time.Now()
	readAll("before restart")
	t.Logf("every partition read in %v", time.Since(start))
	if n := openDescriptors(t, p.cmd.Process.Pid); n >= nofile {
		t.Errorf("node holds %d descriptors, limit %d", n, nofile)
	}
	start = time.Now()
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d, want 0\n%s", code, p.logs.String())
	}
	t.Logf("stopped in %v", time.Since(start))
	start = time.Now()
	p = startNodeUlimit(t, dir, nofile)
	t.Logf("restarted (ready) in %v", time.Since(start))
	c = newClient(t, p.grpcAddr)
	readAll("after restart")
}

func openDescriptors(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
