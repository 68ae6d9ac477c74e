// Package freeport hands tests loopback addresses to give to node processes
// and listeners that bind later. A port is free when handed out, but the
// kernel may give it to the next "127.0.0.1:0" listener once closed, so a
// test that picked four ports for one node could get the same one twice.
// Addr never hands out a port twice in one test binary.
package freeport

import (
	"net"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[string]bool{}
)

// Addr returns "127.0.0.1:port" for a port that was free for both TCP and
// UDP (memberlist binds both) and that no earlier call returned.
func Addr(t testing.TB) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		mu.Lock()
		dup := given[addr]
		given[addr] = true
		mu.Unlock()
		if !dup {
			return addr
		}
	}
	t.Fatal("freeport: no free TCP+UDP loopback port")
	return ""
}
