package cluster

import (
	"bytes"
	"compress/lzw"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// startGossip starts n memberships on loopback, joined to the first, and
// waits until each sees n alive members.
func startGossip(t *testing.T, n int, key []byte) []*Membership {
	t.Helper()
	var ms []*Membership
	for i := range n {
		m, err := NewMembership(MembershipConfig{
			Name: fmt.Sprintf("g%d", i+1), GossipOptions: GossipOptions{BindAddr: "127.0.0.1:0", SecretKey: key},
			RaftAddr: "127.0.0.1:1", GRPCAddr: "127.0.0.1:2", Local: true, Logger: testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Shutdown() })
		if i > 0 {
			if _, err := m.Join([]string{ms[0].Addr()}); err != nil {
				t.Fatal(err)
			}
		}
		ms = append(ms, m)
	}
	waitAlive(t, ms, n)
	return ms
}

func waitAlive(t *testing.T, ms []*Membership, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, m := range ms {
		for {
			alive := 0
			for _, mb := range m.Members() {
				if mb.Status == StatusAlive {
					alive++
				}
			}
			if alive == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s sees %d alive members, want %d: %+v", m.cfg.Name, alive, n, m.Members())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// lzwBomb is a memberlist compressMsg whose payload inflates to size bytes.
func lzwBomb(t *testing.T, size int) []byte {
	t.Helper()
	var comp bytes.Buffer
	w := lzw.NewWriter(&comp, lzw.LSB, 8)
	zeros := make([]byte, 1<<20)
	for range size >> 20 {
		if _, err := w.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	out := bytes.NewBuffer([]byte{mlCompressMsg})
	msg := struct {
		Algo uint8
		Buf  []byte
	}{0, comp.Bytes()}
	if err := codec.NewEncoder(out, &codec.MsgpackHandle{}).Encode(&msg); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestGossipBudget forms a real three-node membership (unencrypted, as in
// dev mode), then sends one node compressed bombs (each inflating to 48
// MiB; memberlist alone would inflate each to its 40 MiB cap) over UDP and
// over TCP streams, and a flood of stream connections: the bombs are
// refused before decompression without the heap growing by their size,
// streams beyond the budget are closed, and the membership stays whole.
func TestGossipBudget(t *testing.T) {
	ms := startGossip(t, 3, nil)
	target := ms[1]
	bomb := lzwBomb(t, 48<<20)
	t.Logf("bomb: %d bytes", len(bomb))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	udp, err := net.Dial("udp", target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for range 3 {
		if _, err := udp.Write(bomb); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		c, err := net.DialTimeout("tcp", target.Addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(bomb)
		_, _ = c.Read(make([]byte, 1)) // until the node closes it
		c.Close()
	}
	// Let the node handle the packets (bounded) before measuring.
	deadline := time.Now().Add(3 * time.Second)
	for target.GossipStats().RefusedCompressed < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("heap allocations grew by %d MiB for 6 compressed bombs, want < 32 MiB", grew>>20)
	}
	if st := target.GossipStats(); st.RefusedCompressed < 6 {
		t.Fatalf("compressed bombs not refused: %+v", st)
	}

	// Flood: stream connections that send nothing, beyond the budget.
	var flood []net.Conn
	for range DefaultGossipMaxStreams + 10 {
		c, err := net.DialTimeout("tcp", target.Addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		flood = append(flood, c)
	}
	deadline = time.Now().Add(10 * time.Second)
	for st := target.GossipStats(); st.RefusedStreams < 10 || st.OpenStreams > st.MaxStreams; st = target.GossipStats() {
		if time.Now().After(deadline) {
			t.Fatalf("stream flood not refused: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range flood {
		c.Close()
	}
	waitAlive(t, ms, 3)
	t.Logf("stats %+v", target.GossipStats())
}

// TestGossipEncryptedForms checks that gossip with a key still forms and
// that the budget's stream accounting returns every slot.
func TestGossipEncryptedForms(t *testing.T) {
	ms := startGossip(t, 3, bytes.Repeat([]byte{7}, 32))
	deadline := time.Now().Add(15 * time.Second)
	for _, m := range ms {
		for m.GossipStats().OpenStreams != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s holds %d streams", m.cfg.Name, m.GossipStats().OpenStreams)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// TestGossipStreamBytes sends a user message stream longer than
// MaxStreamBytes: the node stops reading at the budget and closes it.
func TestGossipStreamBytes(t *testing.T) {
	m, err := NewMembership(MembershipConfig{
		Name: "g1", GossipOptions: GossipOptions{BindAddr: "127.0.0.1:0", MaxStreamBytes: 64 << 10}, RaftAddr: "127.0.0.1:1", GRPCAddr: "127.0.0.1:2",
		Local: true, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	msg := bytes.NewBuffer([]byte{8}) // memberlist's userMsg: a header, then UserMsgLen bytes
	if err := codec.NewEncoder(msg, &codec.MsgpackHandle{}).Encode(&struct{ UserMsgLen int }{1 << 20}); err != nil {
		t.Fatal(err)
	}
	msg.Write(make([]byte, 1<<20))
	c, err := net.DialTimeout("tcp", m.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = c.Write(msg.Bytes())
	deadline := time.Now().Add(10 * time.Second)
	for m.GossipStats().RefusedOversize != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("oversized stream not refused: %+v", m.GossipStats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
