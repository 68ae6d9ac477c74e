// Package freeport hands tests loopback addresses to give to node processes
// and listeners that bind later.
//
// Two traps make "listen on 127.0.0.1:0, note the port, close" unsafe when
// the port is bound again later: the kernel hands the same ephemeral port
// to the next ":0" listener or outgoing connection of any process (go test
// runs packages in parallel, and they all do that), and two test binaries
// may each pick the same port. So Addr picks from a fixed range below the
// kernel's ephemeral range (32768-60999 by default) and above the ports the
// project's scripts use, and claims each port across processes with an
// flock on a file in the temp dir, held until the test binary exits. In one
// binary it never hands out a port twice.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The range Addr picks from. The jepsen runner's tests use 27400-28699 and
// the scripts 7400-7440 and 17400-17840, so those stay out of it.
const (
	lo = 10000
	hi = 17000
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
	locks []*os.File // kept open (and locked) for the life of the process
)

// Addr returns "127.0.0.1:port" for a port that was free for both TCP and
// UDP (memberlist binds both), that no earlier call returned, and that no
// other process using this package holds.
func Addr(t testing.TB) string {
	t.Helper()
	addr, err := pick()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func pick() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	dir := lockDir()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", fmt.Errorf("freeport: %w", err)
	}
	start := rand.IntN(hi - lo)
	for i := range hi - lo {
		port := lo + (start+i)%(hi-lo)
		if given[port] {
			continue
		}
		f, ok := claim(dir, port)
		if !ok {
			continue
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if !bindable(addr) {
			f.Close() // releases the lock
			continue
		}
		given[port] = true
		locks = append(locks, f)
		return addr, nil
	}
	return "", fmt.Errorf("freeport: no free TCP+UDP loopback port in %d-%d", lo, hi-1)
}

// lockDir holds one lock file per claimed port; it is per user, so that a
// directory another user created cannot make every claim fail.
func lockDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("flowmesh-freeport-%d", os.Getuid()))
}

// claim takes an exclusive, non-blocking flock on dir/port. The kernel
// drops it when the process exits, however it exits.
func claim(dir string, port int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, fmt.Sprint(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

func bindable(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	defer l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}
