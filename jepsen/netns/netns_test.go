package netns

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestNetworkLifecycle(t *testing.T) {
	if os.Geteuid() != 0 || Available() != nil {
		t.Skip("needs root and ip, iptables, tc")
	}
	ctx := context.Background()
	nw, err := Create(ctx, Config{ID: "tst", Subnet: "10.232.9", Nodes: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	out := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v: %s", args, err, b)
		}
		return string(b)
	}
	if got := out("ip", "netns", "exec", nw.NS(1), "ip", "-4", "addr", "show", "eth0"); !strings.Contains(got, nw.IP(1)+"/24") {
		t.Errorf("node 1 lacks its address:\n%s", got)
	}
	// Isolate node 0.
	if err := nw.Partition(ctx, func(i, j int) bool { return i != 0 && j != 0 }); err != nil {
		t.Fatal(err)
	}
	if got := out("ip", "netns", "exec", nw.NS(0), "iptables", "-S"); strings.Count(got, "-j DROP") != 4 {
		t.Errorf("node 0 should drop from and to both others:\n%s", got)
	}
	if got := out("ip", "netns", "exec", nw.NS(1), "iptables", "-S"); strings.Count(got, "-j DROP") != 2 {
		t.Errorf("node 1 should drop from and to node 0 only:\n%s", got)
	}
	if err := nw.HealPartition(ctx); err != nil {
		t.Fatal(err)
	}
	if got := out("ip", "netns", "exec", nw.NS(0), "iptables", "-S"); strings.Contains(got, "DROP") {
		t.Errorf("rules left after heal:\n%s", got)
	}
	if _, err := nw.Netem(ctx, 2, 0, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := nw.HealNetem(ctx); err != nil {
		t.Fatal(err)
	}
	ns := nw.NS(0)
	if err := nw.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out("ip", "netns", "list"), ns) {
		t.Errorf("namespace %s left after Close", ns)
	}
}
