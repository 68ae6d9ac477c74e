package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		a := Addr(t)
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
	}
	// Handed-out addresses are usable.
	l, err := net.Listen("tcp", Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// A handed-out port stays claimed: another claimant (another test binary,
// or here another open file description, which flock treats the same way)
// cannot take it while this process lives.
func TestAddrIsClaimedAcrossProcesses(t *testing.T) {
	a := Addr(t)
	_, portStr, err := net.SplitHostPort(a)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	if port < lo || port >= hi {
		t.Fatalf("%s outside %d-%d", a, lo, hi-1)
	}
	if f, ok := claim(lockDir(), port); ok {
		f.Close()
		t.Fatalf("port %d claimed twice", port)
	}
}
