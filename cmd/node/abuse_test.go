package main

import (
	"bytes"
	"compress/lzw"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"

	"github.com/flowmesh/flowmesh"
	"github.com/flowmesh/flowmesh/internal/freeport"
)

// peakRSS reads a process's peak resident set (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// TestNodeTransportAbuse replays issue 10's transport rows against a node
// process: one raft connection sending a 512 MiB msgpack field, 2000 raft
// connections each sending 1 MiB of a request then stalling, and 32 gossip
// streams and packets of compressed payloads inflating to 64-100 MiB each.
// The node's peak RSS stays under 512 MB (it reached 7.6 GB, 4.7 GB and
// 3.3 GB before the budgets), the stalled connections are closed, and the
// node keeps serving writes.
func TestNodeTransportAbuse(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the raft read timeout (30 s)")
	}
	ctx := context.Background()
	raftAddr := freeport.Addr(t)
	p := startNode(t, t.TempDir(), "--raft-addr", raftAddr)
	pid := p.cmd.Process.Pid
	c := newClient(t, p.grpcAddr)
	if _, err := c.CreateKVStore(ctx, "t1", "ns1", "kv"); err != nil {
		t.Fatal(err)
	}
	put := func(v string) {
		t.Helper()
		if _, err := c.Put(ctx, "t1/ns1/kv", "k", []byte(v), flowmesh.KVPutOptions{}); err != nil {
			t.Fatalf("Put %s: %v", v, err)
		}
	}
	const bound = 512 << 20
	chunk := make([]byte, 1<<20)

	// One raft connection: an entry whose Data declares 512 MiB, and as
	// much of it as the node takes.
	conn, err := net.Dial("tcp", raftAddr)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	field := []byte{0, 0x81, 0xa7, 'E', 'n', 't', 'r', 'i', 'e', 's', 0x91, 0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0x20, 0, 0, 0}
	if _, err := conn.Write(field); err == nil {
		for sent := 0; sent < 512<<20; sent += len(chunk) {
			if _, err := conn.Write(chunk); err != nil {
				break
			}
		}
	}
	conn.Close()
	put("after the 512 MiB field")

	// 2000 raft connections, each 1 MiB of an AppendEntries (two 512 KiB
	// entries), then stalled.
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	entry := append([]byte{0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0, 8, 0, 0}, chunk[:512<<10]...)
	for range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", raftAddr, 5*time.Second)
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte{0, 0x81, 0xa7, 'E', 'n', 't', 'r', 'i', 'e', 's', 0xdc, 0, 64}); err != nil {
				return
			}
			for range 2 {
				if _, err := c.Write(entry); err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	put("while 2000 raft connections stall")
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	// Every connection is closed: at accept, or after the read timeout.
	deadline := time.Now().Add(60 * time.Second)
	for _, c := range conns {
		_ = c.SetReadDeadline(deadline)
		if _, err := c.Read(make([]byte, 1)); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("a stalled raft connection is still open after 60 s")
			}
		}
	}

	// Gossip: 32 streams of an LZW payload of 100 MiB, and 32 packets of
	// one of 64 MiB (fits a UDP datagram).
	bomb := gossipBomb(t, chunk, 100)
	small := gossipBomb(t, chunk, 64)
	udp, err := net.Dial("udp", p.gossipAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", p.gossipAddr, 5*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = c.Write(bomb)
			_, _ = c.Read(make([]byte, 1))
		}()
		if _, err := udp.Write(small); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	put("after the gossip bombs")

	body := httpGet(t, "http://"+p.httpAddr+"/metrics")
	for _, want := range []string{
		`flowmesh_budget_refused_total{budget="raft_connections",reason="over_limit"}`,
		`flowmesh_budget_refused_total{budget="raft_connections",reason="stalled"}`,
		`flowmesh_budget_refused_total{budget="raft_connections",reason="too_large"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `flowmesh_budget_refused_total{budget="gossip",reason="compressed"} 0`) {
		t.Error("no compressed gossip refused")
	}
	rss := peakRSS(t, pid)
	t.Logf("peak RSS %d MiB", rss>>20)
	if rss > bound {
		t.Errorf("peak RSS %d MiB, want under %d MiB", rss>>20, bound>>20)
	}
}

// gossipBomb is a memberlist compressMsg inflating to n copies of zeros.
func gossipBomb(t *testing.T, zeros []byte, n int) []byte {
	t.Helper()
	var comp bytes.Buffer
	w := lzw.NewWriter(&comp, lzw.LSB, 8)
	for range n {
		_, _ = w.Write(zeros)
	}
	w.Close()
	out := bytes.NewBuffer([]byte{9}) // memberlist's compressMsg
	if err := codec.NewEncoder(out, &codec.MsgpackHandle{}).Encode(&struct {
		Algo uint8
		Buf  []byte
	}{0, comp.Bytes()}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
